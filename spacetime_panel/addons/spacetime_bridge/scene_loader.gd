extends RefCounted
## The game's scene as GET /scene reports it, and scene changes asked over HTTP.
##
## A load is a threaded ResourceLoader request polled from `poll()` (progress
## in `progress`), then SceneTree.change_scene_to_packed(); the scene counts as
## loaded when SceneTree.scene_changed says it is in the tree. `changer`, when
## set, replaces all of that (tests record the request instead of changing the
## scene). Events (`scene_loaded`, `error`) queue up for `drain_events()`.

const SCENE_PREFIX := "res://"
const SCENE_SUFFIXES: Array[String] = [".tscn", ".scn"]
const FORBIDDEN_IN_PATH: Array[String] = ["..", ":", "\\"]
## The longest file or folder name, and the longest path (res:// included), in UTF-8 bytes.
const MAX_NAME_BYTES := 255
const MAX_PATH_BYTES := 1024

## When valid, called with the res:// path instead of loading it.
var changer: Callable = Callable()
## Progress of the threaded load, 0..1.
var progress: float = 0.0

var _tree: SceneTree = null
var _current_path: String = ""
var _current_name: String = ""
var _has_scene: bool = false
var _pending_path: String = ""
var _loading: bool = false
var _threaded: bool = false
var _adopted: bool = false
var _events: Array[Dictionary] = []


## The path rule of scene_paths.json: res://, no "..", no ":" or leading "/"
## after the prefix, no backslash or NUL (nor U+FFFD, what Godot makes of a NUL),
## ends in .tscn or .scn (case-sensitive), no name over 255 bytes and no path
## over 1024 bytes in UTF-8.
static func is_valid_scene_path(path: String) -> bool:
	if not path.begins_with(SCENE_PREFIX):
		return false
	var rest: String = path.substr(SCENE_PREFIX.length())
	if rest.begins_with("/"):
		return false
	if path.to_utf8_buffer().size() > MAX_PATH_BYTES:
		return false
	for name: String in rest.split("/"):
		if name.to_utf8_buffer().size() > MAX_NAME_BYTES:
			return false
	for forbidden: String in FORBIDDEN_IN_PATH:
		if rest.contains(forbidden):
			return false
	# Godot strings cannot hold NUL: JSON's \u0000 and a raw NUL arrive as U+FFFD.
	for index: int in rest.length():
		var code: int = rest.unicode_at(index)
		if code == 0 or code == 0xFFFD:
			return false
	for suffix: String in SCENE_SUFFIXES:
		if rest.ends_with(suffix):
			return true
	return false


## A scene's name as the panel shows it: the file name without its extension.
static func scene_name(path: String) -> String:
	return path.get_file().get_basename()


## Follows `tree`: its current scene, and each scene change.
func attach(tree: SceneTree) -> void:
	_tree = tree
	if not tree.scene_changed.is_connected(_on_scene_changed):
		tree.scene_changed.connect(_on_scene_changed)


func detach() -> void:
	if _tree != null and _tree.scene_changed.is_connected(_on_scene_changed):
		_tree.scene_changed.disconnect(_on_scene_changed)
	_tree = null


## Called every frame: adopts the first scene, advances a threaded load.
func poll() -> void:
	if _tree == null:
		return
	if not _adopted and _tree.current_scene != null:
		_adopted = true
		if not _loading:
			_adopt_current_scene()
	if _threaded:
		_poll_threaded()


## Starts loading `path` (already checked by the router); replaces a pending load.
func request_load(path: String) -> void:
	_pending_path = path
	_loading = true
	progress = 0.0
	if changer.is_valid():
		changer.call(path)
		return
	if _tree == null:
		_fail(path, "no scene tree to load into")
		return
	var err: Error = ResourceLoader.load_threaded_request(path, "PackedScene")
	if err != OK:
		_fail(path, "load request refused (error %d)" % err)
		return
	_threaded = true


## Loads the current (or pending) scene again; returns its path, "" when there is none.
func request_reload() -> String:
	var path: String = _pending_path if _loading else _current_path
	if path.is_empty():
		return ""
	request_load(path)
	return path


## GET /scene: loaded, loading, name, path (null name and path when there is none).
func snapshot() -> Dictionary:
	if _loading:
		return {
			"loaded": false,
			"loading": true,
			"name": scene_name(_pending_path),
			"path": _pending_path,
		}
	if not _has_scene:
		return {"loaded": false, "loading": false, "name": null, "path": null}
	return {
		"loaded": true,
		"loading": false,
		"name": _current_name,
		"path": _current_path if not _current_path.is_empty() else null,
	}


func is_loading() -> bool:
	return _loading


## Events since the last call, oldest first: {"event", "data"} Dictionaries.
func drain_events() -> Array[Dictionary]:
	var events: Array[Dictionary] = _events
	_events = []
	return events


## Marks `path` loaded as if SceneTree.scene_changed had said so (tests, and
## games that change scenes without the tree's help).
func mark_loaded(path: String, name: String) -> void:
	_current_path = path
	_current_name = name if not name.is_empty() else scene_name(path)
	_has_scene = true
	if _loading and (path == _pending_path or path.is_empty()):
		_loading = false
		_pending_path = ""
	_events.append(
		{"event": "scene_loaded", "data": {"name": _current_name, "path": _current_path}}
	)


func _adopt_current_scene() -> void:
	var scene: Node = _tree.current_scene
	var path: String = scene.scene_file_path
	mark_loaded(path, scene_name(path) if not path.is_empty() else str(scene.name))


func _on_scene_changed() -> void:
	_adopted = true
	if _tree == null or _tree.current_scene == null:
		_has_scene = false
		return
	_adopt_current_scene()


func _poll_threaded() -> void:
	var progress_out: Array = []
	var status: ResourceLoader.ThreadLoadStatus = ResourceLoader.load_threaded_get_status(
		_pending_path, progress_out
	)
	if not progress_out.is_empty():
		progress = float(progress_out[0])
	if status == ResourceLoader.THREAD_LOAD_IN_PROGRESS:
		return
	_threaded = false
	if status != ResourceLoader.THREAD_LOAD_LOADED:
		_fail(_pending_path, "loading failed (status %d)" % status)
		return
	var scene: PackedScene = ResourceLoader.load_threaded_get(_pending_path) as PackedScene
	if scene == null:
		_fail(_pending_path, "not a PackedScene")
		return
	var err: Error = _tree.change_scene_to_packed(scene)
	if err != OK:
		_fail(_pending_path, "change_scene_to_packed failed (error %d)" % err)


func _fail(path: String, why: String) -> void:
	_loading = false
	_threaded = false
	_pending_path = ""
	(
		_events
		. append(
			{
				"event": "error",
				"data": {"message": "Scene %s: %s" % [path, why], "source": "spacetime_bridge"},
			}
		)
	)
