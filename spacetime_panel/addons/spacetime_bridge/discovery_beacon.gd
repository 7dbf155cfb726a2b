extends RefCounted
## Discovery: a UDP announcement once a second, and the port file in the project.
##
## The datagram goes to the broadcast address, to 127.0.0.1 (a listener bound
## to loopback) and to 127.255.255.255 (a unicast datagram reaches only one of
## several SO_REUSEPORT listeners; a loopback broadcast reaches them all).
## The port file PROJECT/.godot/spacetime_bridge.json holds the same JSON; it
## is written atomically and removed on exit unless another bridge wrote its own.

const TARGETS: Array[String] = ["255.255.255.255", "127.0.0.1", "127.255.255.255"]
const PORT_FILE := "res://.godot/spacetime_bridge.json"
const INTERVAL_S := 1.0

var port: int = 0
var sent: int = 0

var _udp: PacketPeerUDP = null
var _payload: PackedByteArray = PackedByteArray()
var _next_at: float = 0.0
var _port_file_written: String = ""
var _pid: int = 0


## Starts beaconing `announcement` to UDP `beacon_port` (0: no beacon).
func start(announcement: Dictionary, beacon_port: int) -> void:
	port = beacon_port
	_pid = int(announcement.get("pid", 0))
	_payload = JSON.stringify(announcement).to_utf8_buffer()
	if port <= 0:
		return
	_udp = PacketPeerUDP.new()
	_udp.set_broadcast_enabled(true)


## Sends once a second; errors (no network, broadcast not permitted) are ignored.
func poll(now: float) -> void:
	if _udp == null or now < _next_at:
		return
	_next_at = now + INTERVAL_S
	for target: String in TARGETS:
		if _udp.set_dest_address(target, port) == OK and _udp.put_packet(_payload) == OK:
			sent += 1


func stop() -> void:
	if _udp != null:
		_udp.close()
		_udp = null


## Where the port file goes, as an OS path ("" when the game runs from an
## export, which has no project folder of its own).
static func port_file_path() -> String:
	var folder: String = ProjectSettings.globalize_path("res://.godot")
	if folder.begins_with("res://") or not DirAccess.dir_exists_absolute(folder):
		return ""
	return ProjectSettings.globalize_path(PORT_FILE)


## Writes the announcement to `path` (temp file, then rename); false on failure.
func write_port_file(announcement: Dictionary, path: String) -> bool:
	if path.is_empty():
		return false
	var temp: String = "%s.%d.tmp" % [path, int(announcement.get("pid", 0))]
	var file: FileAccess = FileAccess.open(temp, FileAccess.WRITE)
	if file == null:
		return false
	file.store_string(JSON.stringify(announcement, "  ") + "\n")
	file.close()
	if DirAccess.rename_absolute(temp, path) != OK:
		DirAccess.remove_absolute(temp)
		return false
	_port_file_written = path
	_pid = int(announcement.get("pid", 0))
	return true


## Removes the port file this bridge wrote, unless another bridge has replaced it.
func remove_port_file() -> void:
	var path: String = _port_file_written
	_port_file_written = ""
	if path.is_empty() or not FileAccess.file_exists(path):
		return
	var json: JSON = JSON.new()
	if json.parse(FileAccess.get_file_as_string(path)) != OK:
		return
	var content: Variant = json.data
	if content is Dictionary and int((content as Dictionary).get("pid", -1)) == _pid:
		DirAccess.remove_absolute(path)
