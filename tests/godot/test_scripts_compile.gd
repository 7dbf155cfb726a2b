extends RefCounted
## Every runtime script of the addon compiles in a release template and can be
## instantiated (plugin.gd is left out: EditorPlugin exists only in the editor).

const TestContext := preload("test_context.gd")

const ADDON := "res://addons/spacetime_bridge/"
const EDITOR_ONLY: Array[String] = ["plugin.gd"]
const EXPECTED: Array[String] = [
	"bridge.gd",
	"bridge_logger.gd",
	"bridge_settings.gd",
	"discovery_beacon.gd",
	"editor_services.gd",
	"http_connection.gd",
	"http_request_reader.gd",
	"http_router.gd",
	"http_server.gd",
	"player_tracker.gd",
	"scene_loader.gd",
	"telemetry_frames.gd",
	"telemetry_server.gd",
]


func run(ctx: TestContext) -> void:
	var listed: PackedStringArray = DirAccess.get_files_at(ADDON)
	var scripts: Array[String] = []
	for file: String in listed:
		if file.ends_with(".gd") and not EDITOR_ONLY.has(file):
			scripts.append(file)
	for file: String in EXPECTED:
		if not scripts.has(file):
			scripts.append(file)
	scripts.sort()
	for file: String in scripts:
		var script: Script = load(ADDON + file) as Script
		ctx.check(
			"compiles: %s" % file,
			script != null and script.can_instantiate(),
			"load() gave no instantiable Script"
		)
	ctx.check(
		"the addon folder lists every runtime script",
		EXPECTED.all(func(file: String) -> bool: return listed.has(file)),
		"DirAccess listed %s" % [listed]
	)
	_check_plugin_cfg(ctx)


func _check_plugin_cfg(ctx: TestContext) -> void:
	var config: ConfigFile = ConfigFile.new()
	var err: Error = config.load(ADDON + "plugin.cfg")
	var name: String = str(config.get_value("plugin", "name", ""))
	var script: String = str(config.get_value("plugin", "script", ""))
	var version: String = str(config.get_value("plugin", "version", ""))
	ctx.check(
		"plugin.cfg names SpaceTime Bridge 0.1.0 with plugin.gd",
		err == OK and name == "SpaceTime Bridge" and script == "plugin.gd" and version == "0.1.0",
		"error %d, name %s, script %s, version %s" % [err, name, script, version]
	)
