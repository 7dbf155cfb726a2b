extends RefCounted
## Incremental HTTP/1.1 request parser, fed with whatever bytes have arrived.
##
## Sans-I/O: `feed()` takes bytes and the current time (seconds, any monotonic
## origin) and never blocks, so it runs on a TCP peer or on a StreamPeerBuffer
## in tests, with a clock the caller controls. The reader stops at the first
## limit it meets; `error_status` is then 414, 431 or 400. Body problems (411
## for chunked, 413 over the limit) are only recorded in `body_error`: the
## router answers them in their turn, after Host, key, route and content type.
## A request that does not complete within `timeout_s` is `timed_out` (the
## connection is closed without an answer).

const PHASE_REQUEST_LINE := 0
const PHASE_HEADERS := 1
const PHASE_BODY := 2
const PHASE_DONE := 3

const LF := 10
const CR := 13
const TAB := 9
const SPACE := 32
const DEL := 127
const DIGITS := "0123456789"
const TOKEN_SYMBOLS := "!#$%&'*+-.^_`|~"
const MAX_CONTENT_LENGTH_DIGITS := 15

var limit_request_line: int = 8192
var limit_headers: int = 16384
var limit_header_count: int = 64
var limit_body: int = 65536
var timeout_s: float = 10.0

var method: String = ""
var target: String = ""
## The target without its query string or fragment.
var path: String = ""
var version: String = ""
## Lower-case header name -> value; repeated headers are joined with ", ".
var headers: Dictionary = {}
var body: PackedByteArray = PackedByteArray()
## 411 (chunked) or 413 (over the body limit), else 0.
var body_error: int = 0
## 400, 414 or 431 when the request line or headers broke a rule, else 0.
var error_status: int = 0
## The error's word for the JSON body ("BadRequest", "URITooLong", ...).
var error_word: String = ""
var error_message: String = ""
var timed_out: bool = false

var _phase: int = PHASE_REQUEST_LINE
var _buffer: PackedByteArray = PackedByteArray()
var _header_bytes: int = 0
var _header_count: int = 0
var _body_length: int = 0
var _started_at: float = -1.0
## The first well-formedness problem; answered (400) only once the headers are
## read, so that the limits (414, 431) come first.
var _malformed: String = ""


## Starts the clock of this request (the time the connection was accepted).
func start(now: float) -> void:
	if _started_at < 0.0:
		_started_at = now


## Sets the four limits from a Dictionary shaped like http.json's `limits`.
func set_limits(limits: Dictionary) -> void:
	limit_request_line = int(limits.get("request_line", limit_request_line))
	limit_headers = int(limits.get("headers", limit_headers))
	limit_header_count = int(limits.get("header_count", limit_header_count))
	limit_body = int(limits.get("body", limit_body))


## True once the request is complete, refused, or timed out.
func is_done() -> bool:
	return _phase == PHASE_DONE


## Adds bytes that arrived at time `now` and parses as far as they go.
func feed(data: PackedByteArray, now: float) -> void:
	start(now)
	if _phase == PHASE_DONE:
		return
	_buffer.append_array(data)
	_advance()
	check_time(now)


## Marks the request timed out once `timeout_s` has passed since `start()`.
func check_time(now: float) -> void:
	if _phase != PHASE_DONE and _started_at >= 0.0 and now - _started_at > timeout_s:
		timed_out = true
		_phase = PHASE_DONE


func _advance() -> void:
	while _phase != PHASE_DONE:
		if _phase == PHASE_BODY:
			_take_body()
			if _phase != PHASE_DONE:
				return
			continue
		var eol: int = _buffer.find(LF)
		if eol < 0:
			_check_partial_line()
			return
		var line: PackedByteArray = _buffer.slice(0, eol)
		_buffer = _buffer.slice(eol + 1)
		if not line.is_empty() and line[line.size() - 1] == CR:
			line = line.slice(0, line.size() - 1)
		if _phase == PHASE_REQUEST_LINE:
			_request_line(line)
		else:
			_header_line(line)


func _check_partial_line() -> void:
	# +1 leaves room for the CR of a line that is exactly at the limit.
	if _phase == PHASE_REQUEST_LINE and _buffer.size() > limit_request_line + 1:
		_fail(414, "URITooLong", "Request line over %d bytes" % limit_request_line)
	elif (
		_phase == PHASE_HEADERS
		and _header_bytes + _buffer.size() > limit_headers
		and not (_buffer.size() == 1 and _buffer[0] == CR)
	):
		_fail(431, "RequestHeaderFieldsTooLarge", "Headers over %d bytes" % limit_headers)


func _request_line(line: PackedByteArray) -> void:
	if line.size() > limit_request_line:
		_fail(414, "URITooLong", "Request line over %d bytes" % limit_request_line)
		return
	_phase = PHASE_HEADERS
	if not _is_visible_ascii(line, false):
		_malformed = "Malformed request line"
		return
	var parts: PackedStringArray = line.get_string_from_ascii().split(" ")
	if parts.size() != 3 or not _is_token(parts[0]) or not parts[1].begins_with("/"):
		_malformed = "Malformed request line (expected METHOD /PATH HTTP/1.1)"
		return
	if parts[2] != "HTTP/1.1" and parts[2] != "HTTP/1.0":
		_malformed = "Unsupported HTTP version"
		return
	method = parts[0]
	target = parts[1]
	version = parts[2]
	path = target.get_slice("?", 0).get_slice("#", 0)


func _header_line(line: PackedByteArray) -> void:
	if line.is_empty():
		_end_of_headers()
		return
	# Each header line counts with its CRLF; the blank line that ends them does not.
	_header_bytes += line.size() + 2
	if _header_bytes > limit_headers:
		_fail(431, "RequestHeaderFieldsTooLarge", "Headers over %d bytes" % limit_headers)
		return
	_header_count += 1
	if _header_count > limit_header_count:
		_fail(431, "RequestHeaderFieldsTooLarge", "More than %d headers" % limit_header_count)
		return
	if not _malformed.is_empty():
		return
	var colon: int = line.find(58)  # ':'
	if colon <= 0 or not _is_visible_ascii(line, true):
		_malformed = "Malformed header line"
		return
	var name: String = line.slice(0, colon).get_string_from_ascii()
	if not _is_token(name):
		_malformed = "Malformed header name"
		return
	var value: String = line.slice(colon + 1).get_string_from_ascii().strip_edges()
	var key: String = name.to_lower()
	if key == "host" and headers.has(key):
		_malformed = "More than one Host header"
	elif headers.has(key):
		headers[key] = "%s, %s" % [headers[key], value]
	else:
		headers[key] = value


func _end_of_headers() -> void:
	if not _malformed.is_empty():
		_fail(400, "BadRequest", _malformed)
		return
	if not headers.has("host"):
		_fail(400, "BadRequest", "Missing Host header")
		return
	if headers.has("transfer-encoding"):
		body_error = 411
		_phase = PHASE_DONE
		return
	var length_text: String = str(headers.get("content-length", "0"))
	if not _is_digits(length_text):
		_fail(400, "BadRequest", "Malformed Content-Length")
		return
	if length_text.length() > MAX_CONTENT_LENGTH_DIGITS or length_text.to_int() > limit_body:
		body_error = 413
		_phase = PHASE_DONE
		return
	_body_length = length_text.to_int()
	_phase = PHASE_BODY


func _take_body() -> void:
	var need: int = _body_length - body.size()
	if need > 0 and not _buffer.is_empty():
		var take: int = mini(need, _buffer.size())
		body.append_array(_buffer.slice(0, take))
		_buffer = _buffer.slice(take)
	if body.size() >= _body_length:
		_buffer = PackedByteArray()
		_phase = PHASE_DONE


func _fail(status: int, word: String, message: String) -> void:
	error_status = status
	error_word = word
	error_message = message
	_buffer = PackedByteArray()
	_phase = PHASE_DONE


## Printable ASCII (and space); `allow_tab` for header values.
static func _is_visible_ascii(bytes: PackedByteArray, allow_tab: bool) -> bool:
	for byte: int in bytes:
		if byte == TAB and allow_tab:
			continue
		if byte < SPACE or byte >= DEL:
			return false
	return true


static func _is_token(text: String) -> bool:
	if text.is_empty():
		return false
	for character: String in text:
		var code: int = character.unicode_at(0)
		var alnum: bool = (
			(code >= 48 and code <= 57)
			or (code >= 65 and code <= 90)
			or (code >= 97 and code <= 122)
		)
		if not alnum and not TOKEN_SYMBOLS.contains(character):
			return false
	return true


static func _is_digits(text: String) -> bool:
	if text.is_empty():
		return false
	for character: String in text:
		if not DIGITS.contains(character):
			return false
	return true
