extends RefCounted
## The bridge's own view of the editor's LSP (6005) and DAP (6006) ports, for GET /status.
##
## Each service is checked by a TCP connect attempt polled without blocking,
## then closed: nothing is ever sent (a DAP `initialize` or `disconnect` would
## change the editor's debugging state). A circuit breaker stops the attempts
## after `failure_threshold` consecutive failures (state CIRCUIT_BREAKER_OPEN)
## and lets one attempt through after `cooldown_s` (half-open). Time comes in
## as arguments (`now` monotonic seconds, `wall` seconds since the epoch), and
## the connector is injectable, so tests drive it all.


class Service:
	extends RefCounted

	const DISCONNECTED := 0
	const CONNECTING := 1
	const CONNECTED := 2
	const CIRCUIT_BREAKER_OPEN := 3

	var service_name: String = ""
	var port: int = 0
	var state: int = DISCONNECTED
	var retry_count: int = 0
	## Seconds since the epoch of the last successful check; 0 = never.
	var last_activity: float = 0.0
	var consecutive_failures: int = 0
	var failure_threshold: int = 3
	var cooldown_s: float = 30.0
	var interval_s: float = 2.0
	var connect_timeout_s: float = 1.0
	## (port: int) -> RefCounted with poll(), get_status(), disconnect_from_host(); or null.
	var connector: Callable = Callable()

	var _peer: RefCounted = null
	var _attempt_started: float = 0.0
	var _next_attempt_at: float = 0.0
	var _opened_at: float = 0.0

	func _init(name: String, service_port: int) -> void:
		service_name = name
		port = service_port

	## Advances the check; call every frame (cheap when nothing is due).
	func poll(now: float, wall: float) -> void:
		if _peer != null:
			_poll_attempt(now, wall)
		elif state == CIRCUIT_BREAKER_OPEN:
			if now >= _opened_at + cooldown_s:
				_start_attempt(now, wall)
		elif now >= _next_attempt_at:
			_start_attempt(now, wall)

	## The guide's shape: service_name, port, state, retry_count, last_activity.
	func as_json() -> Dictionary:
		return {
			"service_name": service_name,
			"port": port,
			"state": state,
			"retry_count": retry_count,
			"last_activity": last_activity,
		}

	func close() -> void:
		if _peer != null:
			_peer.call("disconnect_from_host")
			_peer = null

	func _start_attempt(now: float, wall: float) -> void:
		var peer: Variant = null
		if connector.is_valid():
			peer = connector.call(port)
		else:
			peer = _connect_tcp(port)
		if not (peer is RefCounted):
			_record_failure(now)
			return
		_peer = peer
		_attempt_started = now
		if state != CONNECTED:
			state = CONNECTING
		_poll_attempt(now, wall)

	func _poll_attempt(now: float, wall: float) -> void:
		_peer.call("poll")
		var status: int = int(_peer.call("get_status"))
		if status == StreamPeerTCP.STATUS_CONNECTED:
			close()
			_record_success(now, wall)
		elif status != StreamPeerTCP.STATUS_CONNECTING:
			close()
			_record_failure(now)
		elif now - _attempt_started >= connect_timeout_s:
			close()
			_record_failure(now)

	func _record_success(now: float, wall: float) -> void:
		state = CONNECTED
		retry_count = 0
		consecutive_failures = 0
		last_activity = wall
		_next_attempt_at = now + interval_s

	func _record_failure(now: float) -> void:
		retry_count += 1
		consecutive_failures += 1
		_next_attempt_at = now + interval_s
		if consecutive_failures >= failure_threshold:
			state = CIRCUIT_BREAKER_OPEN
			_opened_at = now
		else:
			state = DISCONNECTED

	static func _connect_tcp(service_port: int) -> Variant:
		var peer: StreamPeerTCP = StreamPeerTCP.new()
		if peer.connect_to_host("127.0.0.1", service_port) != OK:
			return null
		return peer


var language_server: Service
var debug_adapter: Service


func _init(lsp_port: int = 6005, dap_port: int = 6006) -> void:
	language_server = Service.new("Language Server", lsp_port)
	debug_adapter = Service.new("Debug Adapter", dap_port)


func poll(now: float, wall: float) -> void:
	language_server.poll(now, wall)
	debug_adapter.poll(now, wall)


func close() -> void:
	language_server.close()
	debug_adapter.close()


## GET /status's debug_adapter, language_server and overall_ready.
func status_fields() -> Dictionary:
	return {
		"debug_adapter": debug_adapter.as_json(),
		"language_server": language_server.as_json(),
		"overall_ready":
		language_server.state == Service.CONNECTED and debug_adapter.state == Service.CONNECTED,
	}
