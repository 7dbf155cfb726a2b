extends RefCounted
## A stand-in for WebSocketPeer with the methods the telemetry server calls;
## the test sets its state and unsent byte count.

var state: int = WebSocketPeer.STATE_OPEN
var buffered: int = 0
var sent: Array[String] = []
var closed_with: int = -1
var polls: int = 0


func poll() -> void:
	polls += 1


func get_ready_state() -> int:
	return state


func get_available_packet_count() -> int:
	return 0


func get_packet() -> PackedByteArray:
	return PackedByteArray()


func get_current_outbound_buffered_amount() -> int:
	return buffered


func send_text(text: String) -> int:
	sent.append(text)
	return OK


func close(code: int = 1000, _reason: String = "") -> void:
	closed_with = code
	state = WebSocketPeer.STATE_CLOSED
