extends RefCounted
## Whether the player has spawned, and where it is, for GET /player and telemetry.
##
## The player is the first node of the group `group` that enters the tree
## (SceneTree.node_added; a periodic look-up catches nodes that join the group
## in their _ready), or what the game reports with report_spawned().

const Frames := preload("telemetry_frames.gd")
const SCAN_INTERVAL_S := 0.25

var group: String = "player"

var _tree: SceneTree = null
var _player: WeakRef = null
var _reported: bool = false
var _reported_position: Vector3 = Vector3.ZERO
var _next_scan_at: float = 0.0
var _events: Array[Dictionary] = []


func attach(tree: SceneTree) -> void:
	_tree = tree
	if not tree.node_added.is_connected(_on_node_added):
		tree.node_added.connect(_on_node_added)


func detach() -> void:
	if _tree != null and _tree.node_added.is_connected(_on_node_added):
		_tree.node_added.disconnect(_on_node_added)
	_tree = null


## Looks for a player now and then while there is none; notices one that left.
func poll(now: float) -> void:
	if _player != null and _node() == null:
		_player = null
	if _tree == null or is_spawned() or now < _next_scan_at:
		return
	_next_scan_at = now + SCAN_INTERVAL_S
	var node: Node = _tree.get_first_node_in_group(group)
	if node != null:
		_spawned(node)


## The game says its player is there (`player` may be null: position unknown).
func report_spawned(player: Node) -> void:
	if player != null:
		_spawned(player)
		return
	_reported = true
	_player = null
	_events.append({"event": "player_spawned", "data": {"position": null}})


## A scene change: the old player is gone until a new one spawns.
func forget() -> void:
	_player = null
	_reported = false


func is_spawned() -> bool:
	return _reported or _node() != null


## GET /player: {"spawned", "position"}; a spawned player always has a position.
func snapshot() -> Dictionary:
	if not is_spawned():
		return {"spawned": false, "position": null}
	return {"spawned": true, "position": Frames.vector3(_position())}


func drain_events() -> Array[Dictionary]:
	var events: Array[Dictionary] = _events
	_events = []
	return events


func _on_node_added(node: Node) -> void:
	if not is_spawned() and node.is_in_group(group):
		_spawned(node)


func _spawned(node: Node) -> void:
	_player = weakref(node)
	_reported = false
	_events.append({"event": "player_spawned", "data": {"position": Frames.vector3(_position())}})


func _node() -> Node:
	if _player == null:
		return null
	var node: Node = _player.get_ref() as Node
	if node == null or not node.is_inside_tree():
		return null
	return node


func _position() -> Vector3:
	var node: Node = _node()
	if node is Node3D:
		return (node as Node3D).global_position
	if node is Node2D:
		var flat: Vector2 = (node as Node2D).global_position
		return Vector3(flat.x, flat.y, 0.0)
	return _reported_position
