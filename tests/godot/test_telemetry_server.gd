extends RefCounted
## The telemetry server's client handling with fake peers: hello first, the
## outbound cap, the handshake time limit, closed clients.

const TestContext := preload("test_context.gd")
const FakeWebSocket := preload("fake_web_socket.gd")
const TelemetryServer := preload("res://addons/spacetime_bridge/telemetry_server.gd")


func run(ctx: TestContext) -> void:
	var server: TelemetryServer = TelemetryServer.new()
	server.hello_text = "HELLO"
	var fast: FakeWebSocket = FakeWebSocket.new()
	var slow: FakeWebSocket = FakeWebSocket.new()
	server.add_peer(fast, 0.0)
	server.add_peer(slow, 0.0)
	server.broadcast("before hello")
	server.poll(0.1)
	ctx.check(
		"telemetry: the hello is the first frame, nothing before it",
		fast.sent == ["HELLO"] and slow.sent == ["HELLO"] and server.client_count() == 2,
		"fast got %s" % [fast.sent]
	)
	slow.buffered = TelemetryServer.OUTBOUND_CAP + 1
	server.broadcast("FRAME")
	ctx.check(
		"telemetry: a client over the outbound cap is dropped, the others get the frame",
		(
			fast.sent == ["HELLO", "FRAME"]
			and slow.sent == ["HELLO"]
			and slow.closed_with == 1008
			and server.client_count() == 1
			and server.dropped_slow == 1
		),
		"slow got %s, closed %d, clients %d" % [slow.sent, slow.closed_with, server.client_count()]
	)
	var shaking: FakeWebSocket = FakeWebSocket.new()
	shaking.state = WebSocketPeer.STATE_CONNECTING
	server.add_peer(shaking, 1.0)
	server.poll(5.9)
	var kept: bool = shaking.closed_with == -1
	server.poll(6.1)
	ctx.check(
		"telemetry: a handshake not done within its time limit is closed",
		kept and shaking.closed_with != -1 and shaking.sent.is_empty(),
		"closed %d, sent %s" % [shaking.closed_with, shaking.sent]
	)
	fast.state = WebSocketPeer.STATE_CLOSED
	server.poll(7.0)
	server.broadcast("AFTER")
	ctx.check(
		"telemetry: a closed client is forgotten",
		server.client_count() == 0 and fast.sent.size() == 2,
		"clients %d" % server.client_count()
	)
