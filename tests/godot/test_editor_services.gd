extends RefCounted
## The LSP/DAP checks' state machine and circuit breaker, with a fake connector
## and a clock the test moves.

const TestContext := preload("test_context.gd")
const EditorServices := preload("res://addons/spacetime_bridge/editor_services.gd")
const FakeTcpPeer := preload("fake_tcp_peer.gd")

const WALL := 1767225600.0

## What the next connect attempt's peer reports.
var outcome: int = StreamPeerTCP.STATUS_ERROR
var attempts: int = 0
var peers: Array[FakeTcpPeer] = []


func run(ctx: TestContext) -> void:
	_breaker(ctx)
	_timeout(ctx)
	_fresh(ctx)


func _connect(_port: int) -> Variant:
	attempts += 1
	var peer: FakeTcpPeer = FakeTcpPeer.new()
	peer.status = outcome
	peers.append(peer)
	return peer


func _service() -> EditorServices.Service:
	var service: EditorServices.Service = EditorServices.Service.new("Debug Adapter", 6006)
	service.connector = _connect
	service.failure_threshold = 3
	service.cooldown_s = 30.0
	service.interval_s = 2.0
	return service


func _breaker(ctx: TestContext) -> void:
	attempts = 0
	outcome = StreamPeerTCP.STATUS_ERROR
	var service: EditorServices.Service = _service()
	for now: float in [0.0, 1.0, 2.0, 3.0, 4.0]:
		service.poll(now, WALL + now)
	ctx.check(
		"editor services: three failed checks open the circuit breaker",
		(
			attempts == 3
			and service.state == EditorServices.Service.CIRCUIT_BREAKER_OPEN
			and service.retry_count == 3
		),
		"attempts %d state %d retries %d" % [attempts, service.state, service.retry_count]
	)
	for now: float in [6.0, 20.0, 33.9]:
		service.poll(now, WALL + now)
	ctx.check(
		"editor services: no attempt while the breaker is open",
		attempts == 3 and service.state == EditorServices.Service.CIRCUIT_BREAKER_OPEN,
		"attempts %d state %d" % [attempts, service.state]
	)
	service.poll(34.1, WALL + 34.1)
	ctx.check(
		"editor services: after the cooldown one attempt; its failure opens the breaker again",
		attempts == 4 and service.state == EditorServices.Service.CIRCUIT_BREAKER_OPEN,
		"attempts %d state %d" % [attempts, service.state]
	)
	outcome = StreamPeerTCP.STATUS_CONNECTED
	service.poll(50.0, WALL + 50.0)
	var still_open: bool = attempts == 4
	service.poll(64.2, WALL + 64.2)
	ctx.check(
		"editor services: a half-open success closes the breaker (CONNECTED, retries 0)",
		(
			still_open
			and attempts == 5
			and service.state == EditorServices.Service.CONNECTED
			and service.retry_count == 0
			and is_equal_approx(service.last_activity, WALL + 64.2)
		),
		"attempts %d state %d retries %d" % [attempts, service.state, service.retry_count]
	)
	var all_closed: bool = peers.all(func(peer: FakeTcpPeer) -> bool: return peer.disconnected)
	ctx.check(
		"editor services: every probe connection is closed (nothing is ever sent)",
		all_closed,
		"a peer was left open"
	)
	var fields: Dictionary = service.as_json()
	ctx.check(
		"editor services: the guide's fields",
		(
			fields.keys().size() == 5
			and fields["service_name"] == "Debug Adapter"
			and fields["port"] == 6006
			and fields["state"] == 2
		),
		JSON.stringify(fields)
	)


func _timeout(ctx: TestContext) -> void:
	attempts = 0
	outcome = StreamPeerTCP.STATUS_CONNECTING
	var service: EditorServices.Service = _service()
	service.connect_timeout_s = 1.0
	service.poll(0.0, WALL)
	service.poll(0.5, WALL + 0.5)
	var connecting: bool = service.state == EditorServices.Service.CONNECTING
	service.poll(1.0, WALL + 1.0)
	ctx.check(
		"editor services: a connect that hangs fails after its time limit",
		(
			connecting
			and service.state == EditorServices.Service.DISCONNECTED
			and service.retry_count == 1
			and attempts == 1
		),
		"connecting=%s state %d retries %d" % [connecting, service.state, service.retry_count]
	)


func _fresh(ctx: TestContext) -> void:
	var services: EditorServices = EditorServices.new(6005, 6006)
	var fields: Dictionary = services.status_fields()
	ctx.check(
		"editor services: before any check both are DISCONNECTED and not ready",
		(
			fields["overall_ready"] == false
			and fields["language_server"]["state"] == 0
			and fields["debug_adapter"]["port"] == 6006
			and fields["language_server"]["service_name"] == "Language Server"
		),
		JSON.stringify(fields)
	)
