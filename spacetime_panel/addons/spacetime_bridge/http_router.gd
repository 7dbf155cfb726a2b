extends RefCounted
## Request -> answer for the bridge's HTTP API, following the protocol's order of checks.
##
## Pure: no sockets, no clock. The first check that fails answers:
## reader limits (414, 431, 400) -> Host (403) -> key (401) -> route (404, 405)
## -> POST content type (415) -> body (411, 413, 400) -> the route itself
## (400 bad scene path, 404 missing scene, 409 reload with no scene).
## An answer is {"status": int, "body": Dictionary, "headers": Dictionary}.

const HttpRequestReader := preload("http_request_reader.gd")
const SceneLoader := preload("scene_loader.gd")

const ROUTES: Dictionary = {
	"/status": "GET",
	"/scene": "GET",
	"/scene/load": "POST",
	"/scene/reload": "POST",
	"/player": "GET",
}
const LOOPBACK_NAMES: Array[String] = ["127.0.0.1", "localhost", "[::1]"]
const BEARER := "bearer "

## Empty: no key needed.
var api_key: String = ""
## While the bridge binds loopback, a Host that is not a loopback name is refused.
var loopback_only: bool = true
var scene_loader: SceneLoader = SceneLoader.new()
## () -> Dictionary, the GET /status body.
var status_provider: Callable = Callable()
## () -> Dictionary, the GET /player body.
var player_provider: Callable = Callable()
## (path: String) -> bool; ResourceLoader.exists when not set.
var scene_exists: Callable = Callable()


## The answer to one complete request (the reader must be done and not timed out).
func handle(request: HttpRequestReader) -> Dictionary:
	var refusal: Dictionary = _refusal(request)
	if not refusal.is_empty():
		return refusal
	match request.path:
		"/status":
			return answer(200, _provided(status_provider))
		"/scene":
			return answer(200, scene_loader.snapshot())
		"/player":
			return answer(200, _player())
		"/scene/load":
			return _scene_load(request)
	return _scene_reload(request)


## {"status", "body", "headers"} for a status code and a JSON body.
static func answer(status: int, body: Dictionary, headers: Dictionary = {}) -> Dictionary:
	return {"status": status, "body": body, "headers": headers}


## An error answer: {"error": word, "message": one line}.
static func error_answer(
	status: int, word: String, message: String, headers: Dictionary = {}
) -> Dictionary:
	var line: String = message.replace("\r", " ").replace("\n", " ")
	return answer(status, {"error": word, "message": line}, headers)


## Equal keys in time that does not depend on where they differ: XOR over
## SHA-256 digests (same length whatever the inputs), never an early exit.
static func keys_match(given: String, expected: String) -> bool:
	var a: PackedByteArray = given.sha256_buffer()
	var b: PackedByteArray = expected.sha256_buffer()
	var difference: int = 0
	for index: int in a.size():
		difference |= a[index] ^ b[index]
	return difference == 0


## Whether a Host header names loopback (127.0.0.1, localhost, [::1]; any port).
static func is_loopback_host(host: String) -> bool:
	var name: String = host.strip_edges().to_lower()
	if name.begins_with("["):
		var close: int = name.find("]")
		if close < 0:
			return false
		var after: String = name.substr(close + 1)
		name = name.substr(0, close + 1)
		if not after.is_empty() and not _is_port_suffix(after):
			return false
	elif name.contains(":"):
		var colon: int = name.rfind(":")
		if not _is_port_suffix(name.substr(colon)):
			return false
		name = name.substr(0, colon)
	return LOOPBACK_NAMES.has(name)


static func _is_port_suffix(text: String) -> bool:
	var digits: String = text.substr(1)
	return (
		text.begins_with(":")
		and not digits.is_empty()
		and digits.length() <= 5
		and digits.is_valid_int()
		and not digits.contains("+")
		and not digits.contains("-")
	)


func _refusal(request: HttpRequestReader) -> Dictionary:
	if request.error_status != 0:
		return error_answer(request.error_status, request.error_word, request.error_message)
	var access: Dictionary = _access_refusal(request)
	if not access.is_empty():
		return access
	if not ROUTES.has(request.path):
		return error_answer(404, "NotFound", "No route %s" % request.path.c_escape())
	var allowed: String = ROUTES[request.path]
	if request.method != allowed:
		return error_answer(
			405,
			"MethodNotAllowed",
			"%s %s is not allowed (use %s)" % [request.method, request.path, allowed],
			{"Allow": allowed}
		)
	if request.method == "POST":
		return _post_refusal(request)
	return {}


func _access_refusal(request: HttpRequestReader) -> Dictionary:
	var host: String = str(request.headers.get("host", ""))
	if loopback_only and request.headers.has("host") and not is_loopback_host(host):
		return error_answer(403, "Forbidden", "Host %s is not a loopback name" % host.c_escape())
	if not api_key.is_empty() and not _authorized(request):
		return error_answer(401, "Unauthorized", "Invalid or missing API key")
	return {}


func _post_refusal(request: HttpRequestReader) -> Dictionary:
	var media: String = str(request.headers.get("content-type", "")).get_slice(";", 0)
	if media.strip_edges().to_lower() != "application/json":
		return error_answer(415, "UnsupportedMediaType", "Content-Type must be application/json")
	if request.body_error == 411:
		return error_answer(
			411, "LengthRequired", "Chunked bodies are not accepted; send Content-Length"
		)
	if request.body_error == 413:
		return error_answer(413, "PayloadTooLarge", "Body over %d bytes" % request.limit_body)
	return {}


func _authorized(request: HttpRequestReader) -> bool:
	var value: String = str(request.headers.get("authorization", "")).strip_edges()
	var scheme_ok: bool = value.to_lower().begins_with(BEARER)
	var token: String = value.substr(BEARER.length()) if scheme_ok else value
	# Compare even when the scheme is wrong, so a refusal takes the same time.
	var same: bool = keys_match(token, api_key)
	return scheme_ok and same


func _scene_load(request: HttpRequestReader) -> Dictionary:
	var body: Variant = _json_body(request.body)
	if not (body is Dictionary) or not ((body as Dictionary).get("path") is String):
		return error_answer(400, "BadRequest", 'Body must be JSON: {"path": "res://..."}')
	var path: String = (body as Dictionary)["path"]
	if not SceneLoader.is_valid_scene_path(path):
		return error_answer(
			400,
			"BadRequest",
			(
				(
					"Scene path must be res://... ending in .tscn or .scn, without '..', "
					+ "no name over 255 bytes (got %s)"
				)
				% path.c_escape()
			)
		)
	if not _exists(path):
		return error_answer(404, "NotFound", "Scene not found: %s" % path.c_escape())
	scene_loader.request_load(path)
	return answer(202, {"status": "loading", "path": path})


func _scene_reload(request: HttpRequestReader) -> Dictionary:
	if not request.body.is_empty() and not (_json_body(request.body) is Dictionary):
		return error_answer(400, "BadRequest", "Body must be empty or a JSON object")
	var path: String = scene_loader.request_reload()
	if path.is_empty():
		return error_answer(409, "Conflict", "No scene is loaded")
	return answer(202, {"status": "loading", "path": path})


func _player() -> Dictionary:
	if player_provider.is_valid():
		return _provided(player_provider)
	return {"spawned": false, "position": null}


func _exists(path: String) -> bool:
	if scene_exists.is_valid():
		return scene_exists.call(path) == true
	return ResourceLoader.exists(path)


static func _provided(provider: Callable) -> Dictionary:
	if not provider.is_valid():
		return {}
	var value: Variant = provider.call()
	return value if (value is Dictionary) else {}


## The body as JSON (null when it is not valid UTF-8 JSON); empty is null.
static func _json_body(bytes: PackedByteArray) -> Variant:
	if bytes.is_empty() or not is_valid_utf8(bytes):
		return null
	var json: JSON = JSON.new()
	if json.parse(bytes.get_string_from_utf8()) != OK:
		return null
	return json.data


## Strict UTF-8 check (no overlongs, no surrogates, nothing over U+10FFFF, no NUL), so that
## decoding never logs an engine error for a client's bad bytes.
static func is_valid_utf8(bytes: PackedByteArray) -> bool:
	var index: int = 0
	var size: int = bytes.size()
	while index < size:
		var lead: int = bytes[index]
		var count: int = 0
		var low: int = 0x80
		var high: int = 0xBF
		if lead == 0:
			# Valid UTF-8, but never in JSON text, and Godot's decoder logs it.
			return false
		if lead < 0x80:
			index += 1
			continue
		if lead >= 0xC2 and lead <= 0xDF:
			count = 1
		elif lead >= 0xE0 and lead <= 0xEF:
			count = 2
			low = 0xA0 if lead == 0xE0 else 0x80
			high = 0x9F if lead == 0xED else 0xBF
		elif lead >= 0xF0 and lead <= 0xF4:
			count = 3
			low = 0x90 if lead == 0xF0 else 0x80
			high = 0x8F if lead == 0xF4 else 0xBF
		else:
			return false
		if index + count >= size:
			return false
		for offset: int in range(1, count + 1):
			var byte: int = bytes[index + offset]
			var lo: int = low if offset == 1 else 0x80
			var hi: int = high if offset == 1 else 0xBF
			if byte < lo or byte > hi:
				return false
		index += count + 1
	return true
