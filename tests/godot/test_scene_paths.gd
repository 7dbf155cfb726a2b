extends RefCounted
## Every verdict of protocol/vectors/scene_paths.json, by the addon's path rule.

const TestContext := preload("test_context.gd")
const SceneLoader := preload("res://addons/spacetime_bridge/scene_loader.gd")

const VECTORS := "res://protocol/vectors/scene_paths.json"


func run(ctx: TestContext) -> void:
	var vectors: Variant = TestContext.load_json(VECTORS)
	if not (vectors is Array) or (vectors as Array).is_empty():
		ctx.check("scene_paths.json is readable", false, "%s missing or empty" % VECTORS)
		return
	for case: Variant in vectors:
		var path: String = str((case as Dictionary).get("path", ""))
		var valid: bool = (case as Dictionary).get("valid") == true
		var verdict: bool = SceneLoader.is_valid_scene_path(path)
		ctx.check(
			"scene path %s is %s" % [path.c_escape(), "valid" if valid else "refused"],
			verdict == valid,
			"the rule says %s (%s)" % [verdict, (case as Dictionary).get("why", "")]
		)
