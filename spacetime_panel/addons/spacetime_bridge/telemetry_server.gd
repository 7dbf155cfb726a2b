extends RefCounted
## The telemetry WebSocket server: TCPServer + WebSocketPeer.accept_stream, polled.
##
## Every client gets `hello_text` first, then whatever `broadcast()` sends.
## A client whose unsent data passes `outbound_cap` is dropped (telemetry is a
## live view: a client that cannot keep up gets a fresh start by reconnecting,
## and never makes the game buffer without bound). Clients are RefCounted
## objects with WebSocketPeer's methods, so tests can add fakes with `add_peer`.

const MAX_CLIENTS := 8
const OUTBOUND_CAP := 256 * 1024
const OUTBOUND_BUFFER := 1024 * 1024
const INBOUND_BUFFER := 16 * 1024
## More packets than the cap can hold (frames are 100 bytes or more), so that the
## cap, not a full packet queue, decides when a client is too slow.
const MAX_QUEUED_PACKETS := 8192
const HANDSHAKE_TIMEOUT_S := 5.0

var hello_text: String = ""
var outbound_cap: int = OUTBOUND_CAP
var port: int = 0
## Clients dropped for being too slow (over the outbound cap).
var dropped_slow: int = 0

var _server: TCPServer = TCPServer.new()
## {"peer": RefCounted, "since": float, "greeted": bool}
var _clients: Array[Dictionary] = []


## Listens on `listen_port`; returns the Error of TCPServer.listen.
func listen(listen_port: int, bind_address: String) -> Error:
	var err: Error = _server.listen(listen_port, bind_address)
	if err == OK:
		port = listen_port
	return err


func is_listening() -> bool:
	return _server.is_listening()


func stop() -> void:
	for client: Dictionary in _clients:
		(client["peer"] as RefCounted).call("close", 1001, "going away")
	_clients.clear()
	_server.stop()


## Clients that have had their hello.
func client_count() -> int:
	var count: int = 0
	for client: Dictionary in _clients:
		if client["greeted"]:
			count += 1
	return count


## Adds a connected peer (a WebSocketPeer after accept_stream, or a test double).
func add_peer(peer: RefCounted, now: float) -> void:
	_clients.append({"peer": peer, "since": now, "greeted": false})


## Accepts clients, completes handshakes, sends hellos, drops closed clients.
func poll(now: float) -> void:
	while _server.is_listening() and _server.is_connection_available():
		var stream: StreamPeerTCP = _server.take_connection()
		if stream == null:
			break
		if _clients.size() >= MAX_CLIENTS:
			stream.disconnect_from_host()
			continue
		var socket: WebSocketPeer = WebSocketPeer.new()
		socket.outbound_buffer_size = OUTBOUND_BUFFER
		socket.inbound_buffer_size = INBOUND_BUFFER
		socket.max_queued_packets = MAX_QUEUED_PACKETS
		if socket.accept_stream(stream) == OK:
			add_peer(socket, now)
		else:
			stream.disconnect_from_host()
	var kept: Array[Dictionary] = []
	for client: Dictionary in _clients:
		if _poll_client(client, now):
			kept.append(client)
	_clients = kept


## Sends `text` to every greeted client; drops the ones over the outbound cap.
func broadcast(text: String) -> void:
	var kept: Array[Dictionary] = []
	for client: Dictionary in _clients:
		if not client["greeted"] or _send(client, text):
			kept.append(client)
	_clients = kept


func _poll_client(client: Dictionary, now: float) -> bool:
	var peer: RefCounted = client["peer"]
	peer.call("poll")
	var state: int = int(peer.call("get_ready_state"))
	if state == WebSocketPeer.STATE_CLOSED:
		return false
	if state == WebSocketPeer.STATE_CONNECTING:
		if now - float(client["since"]) > HANDSHAKE_TIMEOUT_S:
			peer.call("close")
			return false
		return true
	if state != WebSocketPeer.STATE_OPEN:
		return true
	# Clients do not talk to us; read and drop what they send.
	while int(peer.call("get_available_packet_count")) > 0:
		peer.call("get_packet")
	if not client["greeted"]:
		client["greeted"] = true
		return _send(client, hello_text)
	return true


func _send(client: Dictionary, text: String) -> bool:
	var peer: RefCounted = client["peer"]
	if int(peer.call("get_ready_state")) != WebSocketPeer.STATE_OPEN:
		return true
	var pending: int = int(peer.call("get_current_outbound_buffered_amount"))
	if pending + text.length() > outbound_cap:
		peer.call("close", 1008, "too slow: telemetry dropped")
		dropped_slow += 1
		return false
	if int(peer.call("send_text", text)) != OK:
		peer.call("close")
		return false
	return true
