extends RefCounted
## GET /scene's state through a load, with the scene change recorded instead of
## done, and the loader following the real SceneTree.

const TestContext := preload("test_context.gd")
const Frames := preload("res://addons/spacetime_bridge/telemetry_frames.gd")
const SceneLoader := preload("res://addons/spacetime_bridge/scene_loader.gd")

const NOW := 1767225601.0

var _asked: PackedStringArray = PackedStringArray()


func run(ctx: TestContext) -> void:
	var loader: SceneLoader = SceneLoader.new()
	loader.changer = _record
	ctx.check(
		"scene: none at first, and a reload has nothing to reload",
		(
			TestContext.same(
				loader.snapshot(), {"loaded": false, "loading": false, "name": null, "path": null}
			)
			and loader.request_reload() == ""
		),
		JSON.stringify(loader.snapshot())
	)
	loader.request_load("res://scenes/test_room.tscn")
	var loading: Dictionary = loader.snapshot()
	ctx.document("scene", loading)
	(
		ctx
		. check(
			"scene: a requested load shows as loading with its name and path",
			(
				(
					TestContext
					. same(
						loading,
						{
							"loaded": false,
							"loading": true,
							"name": "test_room",
							"path": "res://scenes/test_room.tscn",
						}
					)
				)
				and _asked == PackedStringArray(["res://scenes/test_room.tscn"])
			),
			JSON.stringify(loading)
		)
	)
	loader.mark_loaded("res://scenes/test_room.tscn", "")
	var loaded: Dictionary = loader.snapshot()
	ctx.document("scene", loaded)
	var events: Array[Dictionary] = loader.drain_events()
	for event: Dictionary in events:
		print(
			(
				"STB-JSON telemetry_frame %s"
				% Frames.to_text(Frames.frame(event["event"], event["data"], NOW))
			)
		)
	ctx.check(
		"scene: once in the tree it is loaded, and a scene_loaded event says so",
		(
			loaded["loaded"] == true
			and loaded["loading"] == false
			and events.size() == 1
			and events[0]["event"] == "scene_loaded"
		),
		"%s %s" % [JSON.stringify(loaded), JSON.stringify(events)]
	)
	ctx.check(
		"scene: a reload asks for the same scene again",
		loader.request_reload() == "res://scenes/test_room.tscn" and _asked.size() == 2,
		"asked %s" % [_asked]
	)
	_real_tree(ctx)


func _record(path: String) -> void:
	_asked.append(path)


func _real_tree(ctx: TestContext) -> void:
	var loader: SceneLoader = SceneLoader.new()
	loader.attach(ctx.host.get_tree())
	loader.poll()
	var snapshot: Dictionary = loader.snapshot()
	var connected: bool = ctx.host.get_tree().scene_changed.get_connections().size() > 0
	loader.detach()
	ctx.document("scene", snapshot)
	ctx.check(
		"scene: attached to the running tree it reports the current scene",
		(
			connected
			and snapshot["loaded"] == true
			and snapshot["path"] == "res://tests/run_tests.tscn"
			and snapshot["name"] == "run_tests"
		),
		JSON.stringify(snapshot)
	)
	ctx.check(
		"scene: detach disconnects from SceneTree.scene_changed",
		ctx.host.get_tree().scene_changed.get_connections().is_empty(),
		"still connected"
	)
