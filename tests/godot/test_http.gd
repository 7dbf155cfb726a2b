extends RefCounted
## Every case of protocol/vectors/http.json through the real connection handler.
##
## Each case gets a fresh router (no scene loaded, nothing spawned), the key if
## `use_key`, and its chunks one at a time through a StreamPeerBuffer, the
## clock moving a millisecond per chunk; the bytes written back are parsed as
## an HTTP answer. One test per case; each body is printed for its schema.

const TestContext := preload("test_context.gd")
const EditorServices := preload("res://addons/spacetime_bridge/editor_services.gd")
const Frames := preload("res://addons/spacetime_bridge/telemetry_frames.gd")
const HttpConnection := preload("res://addons/spacetime_bridge/http_connection.gd")
const HttpRouter := preload("res://addons/spacetime_bridge/http_router.gd")
const PlayerTracker := preload("res://addons/spacetime_bridge/player_tracker.gd")
const SceneLoader := preload("res://addons/spacetime_bridge/scene_loader.gd")

const VECTORS := "res://protocol/vectors/http.json"
const BIG_OPEN := "{{BIG:"
const BIG_CLOSE := "}}"

## Paths the scene loader was asked to load in the current case.
var _loads: PackedStringArray = PackedStringArray()
## Kept here: a Callable does not keep its object alive.
var _player: PlayerTracker = PlayerTracker.new()


func run(ctx: TestContext) -> void:
	var vectors: Variant = TestContext.load_json(VECTORS)
	if not (vectors is Dictionary):
		ctx.check("http.json is readable", false, "%s missing or not JSON" % VECTORS)
		return
	var suite: Dictionary = vectors
	for scene: Variant in suite.get("scenes", []):
		ctx.check(
			"http.json scene %s exists in the pack" % scene,
			ResourceLoader.exists(str(scene)),
			"ResourceLoader.exists is false"
		)
	for case: Variant in suite.get("cases", []):
		_run_case(ctx, suite, case as Dictionary)


func _run_case(ctx: TestContext, suite: Dictionary, case: Dictionary) -> void:
	var name: String = "http: %s" % case.get("name", "?")
	_loads = PackedStringArray()
	var router: HttpRouter = _fresh_router(str(suite["api_key"]) if case.get("use_key") else "")
	var input: StreamPeerBuffer = StreamPeerBuffer.new()
	var output: StreamPeerBuffer = StreamPeerBuffer.new()
	var now: float = 100.0
	var connection: HttpConnection = HttpConnection.new(input, output, router, now)
	connection.reader.set_limits(suite.get("limits", {}))
	for chunk: Variant in case.get("chunks", []):
		input.data_array = expand(str(chunk)).to_utf8_buffer()
		input.seek(0)
		now += 0.001
		connection.poll(now)
	connection.poll(now)
	if not connection.is_done():
		ctx.check(name, false, "no complete answer after the last chunk")
		return
	var parsed: Dictionary = parse_answer(output.data_array)
	var why: String = _mismatch(case, parsed)
	if why.is_empty() and int(case["status"]) == 202:
		var path: Variant = (parsed["body"] as Dictionary).get("path")
		if _loads.size() != 1 or _loads[0] != path:
			why = "the scene loader was asked for %s, expected [%s]" % [_loads, path]
	ctx.check(name, why.is_empty(), why)
	if parsed.has("raw"):
		# The bytes the bridge sent, not a re-encoding (which would turn 8080 into 8080.0).
		print("STB-JSON %s %s" % [case.get("schema", "error"), parsed["raw"]])


func _fresh_router(key: String) -> HttpRouter:
	var router: HttpRouter = HttpRouter.new()
	router.api_key = key
	router.loopback_only = true
	var loader: SceneLoader = SceneLoader.new()
	loader.changer = _record_load
	router.scene_loader = loader
	router.status_provider = _status
	_player = PlayerTracker.new()
	router.player_provider = _player.snapshot
	return router


func _record_load(path: String) -> void:
	_loads.append(path)


func _status() -> Dictionary:
	var body: Dictionary = EditorServices.new().status_fields()
	body["bridge"] = Frames.identity(
		Frames.godot_version(), OS.get_process_id(), Frames.project_path(), 8080, 8081
	)
	return body


static func _mismatch(case: Dictionary, parsed: Dictionary) -> String:
	if parsed.has("problem"):
		return str(parsed["problem"])
	if int(parsed["status"]) != int(case["status"]):
		return (
			"status %d, expected %d (body %s)"
			% [parsed["status"], case["status"], JSON.stringify(parsed["body"])]
		)
	var headers: Dictionary = parsed["headers"]
	if str(headers.get("content-type", "")) != "application/json":
		return "Content-Type is %s" % headers.get("content-type", "missing")
	if str(headers.get("connection", "")).to_lower() != "close":
		return "Connection is %s, expected close" % headers.get("connection", "missing")
	return TestContext.subset_mismatch(case.get("body", {}), parsed["body"])


## A chunk with each {{BIG:N}} replaced by N bytes of "a".
static func expand(chunk: String) -> String:
	var text: String = chunk
	var start: int = text.find(BIG_OPEN)
	while start >= 0:
		var close: int = text.find(BIG_CLOSE, start)
		var count: int = (
			text.substr(start + BIG_OPEN.length(), close - start - BIG_OPEN.length()).to_int()
		)
		text = text.substr(0, start) + "a".repeat(count) + text.substr(close + BIG_CLOSE.length())
		start = text.find(BIG_OPEN)
	return text


## {"status", "headers" (lower-case names), "body", "raw" (its text)} or {"problem": why}.
static func parse_answer(bytes: PackedByteArray) -> Dictionary:
	var text: String = bytes.get_string_from_utf8()
	var split: int = text.find("\r\n\r\n")
	if split < 0:
		return {"problem": "no end of headers in %s" % text.left(200).c_escape()}
	var lines: PackedStringArray = text.substr(0, split).split("\r\n")
	var status_line: PackedStringArray = lines[0].split(" ", false, 2)
	if status_line.size() < 2 or status_line[0] != "HTTP/1.1" or not status_line[1].is_valid_int():
		return {"problem": "bad status line %s" % lines[0].c_escape()}
	var headers: Dictionary = {}
	for index: int in range(1, lines.size()):
		var colon: int = lines[index].find(":")
		if colon > 0:
			headers[lines[index].substr(0, colon).strip_edges().to_lower()] = (
				lines[index].substr(colon + 1).strip_edges()
			)
	var payload: String = text.substr(split + 4)
	if int(headers.get("content-length", "-1")) != payload.to_utf8_buffer().size():
		return {
			"problem":
			(
				"Content-Length %s for %d bytes"
				% [headers.get("content-length"), payload.to_utf8_buffer().size()]
			)
		}
	var json: JSON = JSON.new()
	if json.parse(payload) != OK or not (json.data is Dictionary):
		return {"problem": "body is not a JSON object: %s" % payload.left(200).c_escape()}
	return {
		"status": status_line[1].to_int(), "headers": headers, "body": json.data, "raw": payload
	}
