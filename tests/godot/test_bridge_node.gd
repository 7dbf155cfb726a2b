extends RefCounted
## The bridge autoload's own wiring, in the running tree, with its servers
## replaced by what runs without sockets: the HTTP router answering over
## StreamPeerBuffers and a fake telemetry client fed by _process.

const TestContext := preload("test_context.gd")
const Bridge := preload("res://addons/spacetime_bridge/bridge.gd")
const FakeTcpPeer := preload("fake_tcp_peer.gd")
const FakeWebSocket := preload("fake_web_socket.gd")
const HttpConnection := preload("res://addons/spacetime_bridge/http_connection.gd")
const HttpServer := preload("res://addons/spacetime_bridge/http_server.gd")
const TelemetryServer := preload("res://addons/spacetime_bridge/telemetry_server.gd")
const TestHttp := preload("test_http.gd")


func run(ctx: TestContext) -> void:
	var bridge: Bridge = Bridge.new()
	ctx.host.add_child(bridge)
	ctx.check(
		"bridge: this release template without the setting makes it inert, not processing",
		bridge.mode == Bridge.Mode.INERT and not bridge.is_processing(),
		"mode %d" % bridge.mode
	)
	bridge.settings.discovery_port = 0
	bridge._http = HttpServer.new()
	bridge._telemetry = TelemetryServer.new()
	bridge._telemetry.port = 8081
	bridge._wire(8080)
	bridge.mode = Bridge.Mode.SERVING
	bridge._editor.language_server.connector = _refuse
	bridge._editor.debug_adapter.connector = _refuse
	var client: FakeWebSocket = FakeWebSocket.new()
	bridge._telemetry.add_peer(client, 0.0)
	var player: Node3D = Node3D.new()
	player.position = Vector3(0.0, 0.0, 2.0)
	player.add_to_group(bridge.settings.player_group)
	ctx.host.add_child(player)
	for frame: int in 3:
		bridge._process(0.011)
	_telemetry(ctx, client)
	_http(ctx, bridge)
	player.free()
	bridge.free()
	ctx.check(
		"bridge: freeing it closes its telemetry clients (1001, going away)",
		client.closed_with == 1001,
		"closed with %d" % client.closed_with
	)


func _refuse(_port: int) -> Variant:
	var peer: FakeTcpPeer = FakeTcpPeer.new()
	peer.status = StreamPeerTCP.STATUS_ERROR
	return peer


func _telemetry(ctx: TestContext, client: FakeWebSocket) -> void:
	var events: Array[String] = []
	for text: String in client.sent:
		print("STB-JSON telemetry_frame %s" % text)
		var json: JSON = JSON.new()
		if json.parse(text) == OK and json.data is Dictionary:
			events.append(str(json.data.get("event")))
	ctx.check(
		"bridge: telemetry starts with hello, then scene, player, fps and tracking frames",
		(
			not events.is_empty()
			and events[0] == "hello"
			and events.has("scene_loaded")
			and events.has("player_spawned")
			and events.has("fps")
			and events.has("vr_tracking")
		),
		"events %s" % [events]
	)


func _http(ctx: TestContext, bridge: Bridge) -> void:
	var expected: Dictionary = {
		"/status": {"overall_ready": false},
		"/scene": {"loaded": true, "path": "res://tests/run_tests.tscn", "name": "run_tests"},
		"/player": {"spawned": true, "position": [0.0, 0.0, 2.0]},
	}
	var schemas: Dictionary = {"/status": "status", "/scene": "scene", "/player": "player"}
	for path: String in expected:
		var input: StreamPeerBuffer = StreamPeerBuffer.new()
		var output: StreamPeerBuffer = StreamPeerBuffer.new()
		var connection: HttpConnection = HttpConnection.new(input, output, bridge._http.router, 1.0)
		input.data_array = (
			("GET %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n" % path).to_utf8_buffer()
		)
		input.seek(0)
		connection.poll(1.0)
		var answer: Dictionary = TestHttp.parse_answer(output.data_array)
		var why: String = str(answer.get("problem", ""))
		if why.is_empty():
			print("STB-JSON %s %s" % [schemas[path], answer["raw"]])
			why = TestContext.subset_mismatch(expected[path], answer["body"])
			if path == "/status":
				why += TestContext.subset_mismatch(
					{"http_port": 8080, "telemetry_port": 8081, "protocol": "spacetime-bridge/1"},
					answer["body"]["bridge"]
				)
			if int(answer["status"]) != 200:
				why = "status %d" % answer["status"]
		ctx.check("bridge: GET %s answers from the game's state" % path, why.is_empty(), why)
