extends RefCounted
## Settings from the environment and project settings, and the bridge's mode.

const TestContext := preload("test_context.gd")
const Bridge := preload("res://addons/spacetime_bridge/bridge.gd")
const BridgeSettings := preload("res://addons/spacetime_bridge/bridge_settings.gd")


func run(ctx: TestContext) -> void:
	var defaults: BridgeSettings = BridgeSettings.new()
	defaults.read({})
	ctx.check(
		"settings: the defaults are the guide's ports, loopback, 90 Hz, group player",
		(
			defaults.http_ports() == [8080, 8083, 8084, 8085]
			and defaults.telemetry_port == 8081
			and defaults.discovery_port == 8087
			and defaults.bind_address == "127.0.0.1"
			and defaults.binds_loopback()
			and defaults.rate_hz == 90.0
			and defaults.player_group == "player"
			and defaults.api_key == ""
			and not defaults.release_enabled
			and defaults.problems.is_empty()
		),
		"ports %s problems %s" % [defaults.http_ports(), defaults.problems]
	)
	var env: BridgeSettings = BridgeSettings.new()
	(
		env
		. read(
			{
				"SPACETIME_HTTP_PORT": "9000",
				"SPACETIME_HTTP_FALLBACK_PORTS": " 9001, 9000 ,9002",
				"SPACETIME_TELEMETRY_PORT": "99999",
				"SPACETIME_DISCOVERY_PORT": "0",
				"SPACETIME_API_KEY": "k-1",
			}
		)
	)
	ctx.check(
		"settings: the environment's ports and key; a bad port keeps its default and is named",
		(
			env.http_ports() == [9000, 9001, 9002]
			and env.telemetry_port == 8081
			and env.discovery_port == 0
			and env.api_key == "k-1"
			and env.problems.size() == 1
			and env.problems[0].begins_with("SPACETIME_TELEMETRY_PORT")
		),
		"ports %s telemetry %d problems %s" % [env.http_ports(), env.telemetry_port, env.problems]
	)
	var none: BridgeSettings = BridgeSettings.new()
	none.read({"SPACETIME_HTTP_FALLBACK_PORTS": ""})
	ctx.check(
		"settings: an empty fallback list means no fallbacks",
		none.http_ports() == [8080],
		"%s" % [none.http_ports()]
	)
	_bind_address(ctx)
	var modes: Array[bool] = [
		Bridge.decide_mode(false, false, false) == Bridge.Mode.INERT,
		Bridge.decide_mode(false, false, true) == Bridge.Mode.INERT,
		Bridge.decide_mode(false, true, true) == Bridge.Mode.NO_LISTEN,
		Bridge.decide_mode(true, false, true) == Bridge.Mode.NO_LISTEN,
		Bridge.decide_mode(true, false, false) == Bridge.Mode.SERVING,
		Bridge.decide_mode(false, true, false) == Bridge.Mode.SERVING,
	]
	ctx.check(
		"bridge: inert in release unless enabled, no listening on the web, else serving",
		not modes.has(false),
		"%s" % [modes]
	)


func _bind_address(ctx: TestContext) -> void:
	var verdicts: Dictionary = {}
	for value: String in ["localhost", "my-host.example", "0.0.0.0", "::1"]:
		ProjectSettings.set_setting(BridgeSettings.SETTING_BIND_ADDRESS, value)
		var settings: BridgeSettings = BridgeSettings.new()
		settings.read({})
		verdicts[value] = [
			settings.bind_address, settings.binds_loopback(), settings.problems.size()
		]
	ProjectSettings.set_setting(BridgeSettings.SETTING_BIND_ADDRESS, null)
	(
		ctx
		. check(
			"settings: the bind address is an IP (localhost is 127.0.0.1, a host name is refused)",
			(
				TestContext
				. same(
					verdicts,
					{
						"localhost": ["127.0.0.1", true, 0],
						"my-host.example": ["127.0.0.1", true, 1],
						"0.0.0.0": ["0.0.0.0", false, 0],
						"::1": ["::1", true, 0],
					}
				)
			),
			JSON.stringify(verdicts)
		)
	)
