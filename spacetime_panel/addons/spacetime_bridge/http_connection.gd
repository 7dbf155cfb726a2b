extends RefCounted
## One HTTP connection: read one request, answer it as JSON, done.
##
## Written against StreamPeer, so the same code runs on a StreamPeerTCP in the
## game and on two StreamPeerBuffers in tests (`input` to read, `output` to
## write; the same object in the game). `poll(now)` never blocks.

const HttpRequestReader := preload("http_request_reader.gd")
const HttpRouter := preload("http_router.gd")

const STATE_READING := 0
const STATE_WRITING := 1
const STATE_DONE := 2
const READ_CHUNK := 4096

const REASONS: Dictionary = {
	200: "OK",
	202: "Accepted",
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	409: "Conflict",
	411: "Length Required",
	413: "Content Too Large",
	414: "URI Too Long",
	415: "Unsupported Media Type",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
}

var reader: HttpRequestReader = HttpRequestReader.new()
var state: int = STATE_READING
## The status code answered (0 until then, and for a timed-out request).
var status: int = 0

var _input: StreamPeer
var _output: StreamPeer
var _router: HttpRouter
var _pending: PackedByteArray = PackedByteArray()


func _init(input: StreamPeer, output: StreamPeer, router: HttpRouter, now: float) -> void:
	_input = input
	_output = output
	_router = router
	reader.start(now)


func is_done() -> bool:
	return state == STATE_DONE


## Reads what has arrived, answers once the request is complete, writes what fits.
func poll(now: float) -> void:
	if state == STATE_READING:
		_read(now)
	if state == STATE_WRITING:
		_write()


func _read(now: float) -> void:
	while not reader.is_done() and _input.get_available_bytes() > 0:
		var got: Array = _input.get_partial_data(mini(_input.get_available_bytes(), READ_CHUNK))
		if got[0] != OK:
			break
		reader.feed(got[1], now)
	reader.check_time(now)
	if not reader.is_done():
		return
	if reader.timed_out:
		state = STATE_DONE
		return
	var answer: Dictionary = _router.handle(reader)
	status = int(answer["status"])
	_pending = serialize(status, answer["body"], answer["headers"])
	state = STATE_WRITING


func _write() -> void:
	if not _pending.is_empty():
		var sent: Array = _output.put_partial_data(_pending)
		if sent[0] != OK:
			state = STATE_DONE
			return
		_pending = _pending.slice(int(sent[1]))
	if _pending.is_empty():
		state = STATE_DONE


## The bytes of a complete HTTP/1.1 answer with a JSON body; the connection closes.
static func serialize(code: int, body: Dictionary, extra_headers: Dictionary) -> PackedByteArray:
	var payload: PackedByteArray = JSON.stringify(body).to_utf8_buffer()
	var head: String = "HTTP/1.1 %d %s\r\n" % [code, REASONS.get(code, "Unknown")]
	head += "Content-Type: application/json\r\n"
	head += "Content-Length: %d\r\n" % payload.size()
	head += "Connection: close\r\n"
	head += "Cache-Control: no-store\r\n"
	for name: String in extra_headers:
		head += "%s: %s\r\n" % [name, extra_headers[name]]
	head += "\r\n"
	var bytes: PackedByteArray = head.to_utf8_buffer()
	bytes.append_array(payload)
	return bytes
