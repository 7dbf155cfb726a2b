extends RefCounted
## The bridge's HTTP server: a TCPServer polled from the game's frame, one
## request per connection, a bounded number of clients, a deadline per connection.
##
## The per-connection logic is http_connection.gd (StreamPeer-based, tested on
## buffers); this file is only the socket edge.

const HttpConnection := preload("http_connection.gd")
const HttpRouter := preload("http_router.gd")

const MAX_CLIENTS := 16
## After the answer, unread input is drained this long before closing, so that
## closing with unread bytes (an RST) does not destroy the answer in flight.
const LINGER_S := 0.5

var router: HttpRouter = HttpRouter.new()
var timeout_s: float = 10.0
var limits: Dictionary = {}
var port: int = 0

var _server: TCPServer = TCPServer.new()
## {"peer": StreamPeerTCP, "connection": HttpConnection, "linger_until": float}
var _clients: Array[Dictionary] = []


## Listens on the first port of `ports` that can be had; returns it, or 0.
func listen(ports: Array[int], bind_address: String) -> int:
	for candidate: int in ports:
		if _server.listen(candidate, bind_address) == OK:
			port = candidate
			return port
	return 0


func is_listening() -> bool:
	return _server.is_listening()


func stop() -> void:
	for client: Dictionary in _clients:
		(client["peer"] as StreamPeerTCP).disconnect_from_host()
	_clients.clear()
	_server.stop()


func client_count() -> int:
	return _clients.size()


## Accepts, reads, answers and closes; never blocks.
func poll(now: float) -> void:
	if not _server.is_listening():
		return
	while _server.is_connection_available():
		var peer: StreamPeerTCP = _server.take_connection()
		if peer == null:
			break
		if _clients.size() >= MAX_CLIENTS:
			peer.disconnect_from_host()
			continue
		var connection: HttpConnection = HttpConnection.new(peer, peer, router, now)
		connection.reader.timeout_s = timeout_s
		if not limits.is_empty():
			connection.reader.set_limits(limits)
		_clients.append({"peer": peer, "connection": connection, "linger_until": -1.0})
	var kept: Array[Dictionary] = []
	for client: Dictionary in _clients:
		if _poll_client(client, now):
			kept.append(client)
	_clients = kept


func _poll_client(client: Dictionary, now: float) -> bool:
	var peer: StreamPeerTCP = client["peer"]
	peer.poll()
	if peer.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		peer.disconnect_from_host()
		return false
	var connection: HttpConnection = client["connection"]
	if not connection.is_done():
		connection.poll(now)
		if connection.is_done():
			client["linger_until"] = now + LINGER_S
		return true
	# Done: drain what the client still sends, close once it is quiet or time is up.
	var available: int = peer.get_available_bytes()
	if available > 0:
		peer.get_partial_data(available)
	if now >= float(client["linger_until"]) or connection.status == 0:
		peer.disconnect_from_host()
		return false
	return true
