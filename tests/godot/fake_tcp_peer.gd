extends RefCounted
## A stand-in for StreamPeerTCP in a connect attempt: the test sets its status.
## It has no put_data: a service check that tried to send would fail loudly.

var status: int = StreamPeerTCP.STATUS_CONNECTING
var disconnected: bool = false


func poll() -> void:
	pass


func get_status() -> int:
	return status


func disconnect_from_host() -> void:
	disconnected = true
