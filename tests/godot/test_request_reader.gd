extends RefCounted
## The request reader's limits and its time limit, with a clock the test moves.

const TestContext := preload("test_context.gd")
const HttpConnection := preload("res://addons/spacetime_bridge/http_connection.gd")
const HttpRequestReader := preload("res://addons/spacetime_bridge/http_request_reader.gd")
const HttpRouter := preload("res://addons/spacetime_bridge/http_router.gd")

const GET_STATUS := "GET /status HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


func run(ctx: TestContext) -> void:
	_time_limit(ctx)
	_limits(ctx)
	_body(ctx)
	_connection_timeout(ctx)
	_keys(ctx)


func _time_limit(ctx: TestContext) -> void:
	var slow: HttpRequestReader = HttpRequestReader.new()
	slow.timeout_s = 5.0
	slow.start(10.0)
	slow.feed("GET /status HTTP/1.1\r\n".to_utf8_buffer(), 14.9)
	var waiting: bool = not slow.is_done()
	slow.check_time(15.1)
	ctx.check(
		"reader: a request not complete within its time limit is timed out",
		waiting and slow.is_done() and slow.timed_out and slow.error_status == 0,
		"waiting=%s done=%s timed_out=%s" % [waiting, slow.is_done(), slow.timed_out]
	)
	var quick: HttpRequestReader = HttpRequestReader.new()
	quick.timeout_s = 5.0
	quick.start(10.0)
	quick.feed(GET_STATUS.to_utf8_buffer(), 14.9)
	quick.check_time(100.0)
	ctx.check(
		"reader: a request complete in time stays complete",
		quick.is_done() and not quick.timed_out and quick.path == "/status",
		"timed_out=%s path=%s" % [quick.timed_out, quick.path]
	)


func _limits(ctx: TestContext) -> void:
	var reader: HttpRequestReader = HttpRequestReader.new()
	reader.limit_request_line = 32
	reader.feed(("GET /" + "a".repeat(40)).to_utf8_buffer(), 0.0)
	ctx.check(
		"reader: a request line over the limit is 414 before its end arrives",
		reader.is_done() and reader.error_status == 414,
		"status %d" % reader.error_status
	)
	var many: HttpRequestReader = HttpRequestReader.new()
	many.limit_header_count = 3
	var text: String = "GET /status HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
	many.feed(text.to_utf8_buffer(), 0.0)
	ctx.check(
		"reader: one header over the count limit is 431",
		many.error_status == 431,
		"status %d" % many.error_status
	)
	var bad_then_big: HttpRequestReader = HttpRequestReader.new()
	bad_then_big.limit_headers = 64
	var bad: String = "GET /status HTTP/1.1\r\nbroken\r\nX: %s\r\n\r\n" % "b".repeat(80)
	bad_then_big.feed(bad.to_utf8_buffer(), 0.0)
	ctx.check(
		"reader: the header limit answers before a malformed line (limits first)",
		bad_then_big.error_status == 431,
		"status %d" % bad_then_big.error_status
	)
	var binary: HttpRequestReader = HttpRequestReader.new()
	var bytes: PackedByteArray = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX: ".to_utf8_buffer()
	bytes.append_array(PackedByteArray([0xFF, 0xFE, 13, 10, 13, 10]))
	binary.feed(bytes, 0.0)
	ctx.check(
		"reader: bytes that are not ASCII in a header are 400, without an engine error",
		binary.error_status == 400,
		"status %d" % binary.error_status
	)


func _body(ctx: TestContext) -> void:
	var reader: HttpRequestReader = HttpRequestReader.new()
	var head: String = "POST /scene/load HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n"
	reader.feed(head.to_utf8_buffer(), 0.0)
	var waiting: bool = not reader.is_done()
	reader.feed("{}".to_utf8_buffer(), 0.1)
	reader.feed("   extra bytes".to_utf8_buffer(), 0.2)
	ctx.check(
		"reader: the body is read up to Content-Length, the rest is ignored",
		waiting and reader.is_done() and reader.body.get_string_from_utf8() == "{}   ",
		"body %s" % reader.body.get_string_from_utf8().c_escape()
	)
	var huge: HttpRequestReader = HttpRequestReader.new()
	var text: String = "POST /x HTTP/1.1\r\nHost: localhost\r\n"
	text += "Content-Length: 99999999999999999999\r\n\r\n"
	huge.feed(text.to_utf8_buffer(), 0.0)
	ctx.check(
		"reader: a Content-Length of 20 digits is 413, not an integer overflow",
		huge.is_done() and huge.body_error == 413 and huge.error_status == 0,
		"body_error %d, status %d" % [huge.body_error, huge.error_status]
	)
	var bad_utf8: PackedByteArray = PackedByteArray([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D])
	ctx.check(
		"router: a body that is not UTF-8 is refused before decoding",
		(
			not HttpRouter.is_valid_utf8(bad_utf8)
			and HttpRouter.is_valid_utf8("ñandú 場面".to_utf8_buffer())
		),
		"the UTF-8 check disagrees"
	)


func _connection_timeout(ctx: TestContext) -> void:
	var input: StreamPeerBuffer = StreamPeerBuffer.new()
	var output: StreamPeerBuffer = StreamPeerBuffer.new()
	var connection: HttpConnection = HttpConnection.new(input, output, HttpRouter.new(), 50.0)
	connection.reader.timeout_s = 2.0
	input.data_array = "GET /sta".to_utf8_buffer()
	input.seek(0)
	connection.poll(50.5)
	var open: bool = not connection.is_done()
	connection.poll(52.6)
	ctx.check(
		"connection: a stalled request is closed without an answer after its time limit",
		open and connection.is_done() and output.data_array.is_empty() and connection.status == 0,
		"open=%s done=%s wrote %d bytes" % [open, connection.is_done(), output.data_array.size()]
	)


func _keys(ctx: TestContext) -> void:
	ctx.check(
		"router: keys_match is true only for the same key",
		(
			HttpRouter.keys_match("k-123", "k-123")
			and not HttpRouter.keys_match("k-124", "k-123")
			and not HttpRouter.keys_match("", "k-123")
			and not HttpRouter.keys_match("k-123" + "x".repeat(1000), "k-123")
		),
		"keys_match disagrees"
	)
	var hosts: Dictionary = {
		"127.0.0.1": true,
		"LOCALHOST:80": true,
		"[::1]:8080": true,
		"[::1]": true,
		"localhost:": false,
		"localhost:http": false,
		"[::1]x": false,
		"127.0.0.2": false,
	}
	var wrong: Array[String] = []
	for host: String in hosts:
		if HttpRouter.is_loopback_host(host) != hosts[host]:
			wrong.append(host)
	ctx.check("router: loopback Host names", wrong.is_empty(), "wrong verdict for %s" % [wrong])
