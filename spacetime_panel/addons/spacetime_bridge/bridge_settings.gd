extends RefCounted
## The bridge's settings: project settings (with defaults) and the panel's environment.
##
## Read once at start. A value that cannot be used falls back to its default
## and is named in `problems`, which the bridge says once in its start line.

const SETTING_BIND_ADDRESS := "spacetime_bridge/network/bind_address"
const SETTING_RATE_HZ := "spacetime_bridge/telemetry/rate_hz"
const SETTING_PLAYER_GROUP := "spacetime_bridge/player/group"
const SETTING_RELEASE_ENABLED := "spacetime_bridge/release/enabled"

const DEFAULT_BIND_ADDRESS := "127.0.0.1"
const DEFAULT_RATE_HZ := 90.0
const MAX_RATE_HZ := 1000.0
const DEFAULT_PLAYER_GROUP := "player"
const DEFAULT_HTTP_PORT := 8080
const DEFAULT_FALLBACK_PORTS := "8083,8084,8085"
const DEFAULT_TELEMETRY_PORT := 8081
const DEFAULT_DISCOVERY_PORT := 8087
const DEFAULT_LSP_PORT := 6005
const DEFAULT_DAP_PORT := 6006

const ENV_NAMES: Array[String] = [
	"SPACETIME_HTTP_PORT",
	"SPACETIME_HTTP_FALLBACK_PORTS",
	"SPACETIME_TELEMETRY_PORT",
	"SPACETIME_DISCOVERY_PORT",
	"SPACETIME_API_KEY",
	"SPACETIME_LSP_PORT",
	"SPACETIME_DAP_PORT",
]
const LOOPBACK_ADDRESSES: Array[String] = ["127.0.0.1", "localhost", "::1"]

var bind_address: String = DEFAULT_BIND_ADDRESS
var rate_hz: float = DEFAULT_RATE_HZ
var player_group: String = DEFAULT_PLAYER_GROUP
var release_enabled: bool = false
var http_port: int = DEFAULT_HTTP_PORT
var http_fallback_ports: Array[int] = [8083, 8084, 8085]
var telemetry_port: int = DEFAULT_TELEMETRY_PORT
## 0 means no beacon.
var discovery_port: int = DEFAULT_DISCOVERY_PORT
## Empty means no key is needed.
var api_key: String = ""
var lsp_port: int = DEFAULT_LSP_PORT
var dap_port: int = DEFAULT_DAP_PORT
## One short text per value that was not usable (its default was taken).
var problems: PackedStringArray = PackedStringArray()


## Reads the project settings and this process's environment.
func read_from_os() -> void:
	var env: Dictionary = {}
	for name: String in ENV_NAMES:
		if OS.has_environment(name):
			env[name] = OS.get_environment(name)
	read(env)


## Reads the project settings and `env` (variable name -> text), for tests too.
func read(env: Dictionary) -> void:
	problems = PackedStringArray()
	bind_address = str(ProjectSettings.get_setting(SETTING_BIND_ADDRESS, DEFAULT_BIND_ADDRESS))
	bind_address = bind_address.strip_edges()
	# TCPServer.listen takes an IP address or "*" (a host name is an engine error).
	if bind_address == "localhost":
		bind_address = DEFAULT_BIND_ADDRESS
	elif bind_address != "*" and not bind_address.is_valid_ip_address():
		problems.append(
			(
				"%s=%s (using %s)"
				% [SETTING_BIND_ADDRESS, bind_address.c_escape(), DEFAULT_BIND_ADDRESS]
			)
		)
		bind_address = DEFAULT_BIND_ADDRESS
	var rate: Variant = ProjectSettings.get_setting(SETTING_RATE_HZ, DEFAULT_RATE_HZ)
	rate_hz = DEFAULT_RATE_HZ
	if (rate is float or rate is int) and float(rate) > 0.0 and float(rate) <= MAX_RATE_HZ:
		rate_hz = float(rate)
	else:
		problems.append("%s=%s (using %d)" % [SETTING_RATE_HZ, str(rate), int(DEFAULT_RATE_HZ)])
	player_group = str(ProjectSettings.get_setting(SETTING_PLAYER_GROUP, DEFAULT_PLAYER_GROUP))
	if player_group.strip_edges().is_empty():
		player_group = DEFAULT_PLAYER_GROUP
	release_enabled = ProjectSettings.get_setting(SETTING_RELEASE_ENABLED, false) == true

	http_port = _port(env, "SPACETIME_HTTP_PORT", DEFAULT_HTTP_PORT, false)
	http_fallback_ports = _ports(env, "SPACETIME_HTTP_FALLBACK_PORTS", DEFAULT_FALLBACK_PORTS)
	telemetry_port = _port(env, "SPACETIME_TELEMETRY_PORT", DEFAULT_TELEMETRY_PORT, false)
	discovery_port = _port(env, "SPACETIME_DISCOVERY_PORT", DEFAULT_DISCOVERY_PORT, true)
	lsp_port = _port(env, "SPACETIME_LSP_PORT", DEFAULT_LSP_PORT, false)
	dap_port = _port(env, "SPACETIME_DAP_PORT", DEFAULT_DAP_PORT, false)
	api_key = str(env.get("SPACETIME_API_KEY", ""))


## The HTTP ports to try, first the chosen one, then the fallbacks (no duplicates).
func http_ports() -> Array[int]:
	var ports: Array[int] = [http_port]
	for port: int in http_fallback_ports:
		if not ports.has(port):
			ports.append(port)
	return ports


## Whether the servers bind a loopback address (then a foreign Host is refused).
func binds_loopback() -> bool:
	return LOOPBACK_ADDRESSES.has(bind_address)


func _port(env: Dictionary, name: String, default: int, allow_zero: bool) -> int:
	var raw: String = str(env.get(name, "")).strip_edges()
	if raw.is_empty():
		return default
	var low: int = 0 if allow_zero else 1
	if raw.length() > 5 or not raw.is_valid_int() or raw.to_int() < low or raw.to_int() > 65535:
		problems.append("%s=%s (using %d)" % [name, raw.c_escape(), default])
		return default
	return raw.to_int()


func _ports(env: Dictionary, name: String, default: String) -> Array[int]:
	var raw: String = str(env.get(name, default))
	var ports: Array[int] = []
	for part: String in raw.split(",", false):
		var text: String = part.strip_edges()
		if (
			text.length() <= 5
			and text.is_valid_int()
			and text.to_int() >= 1
			and text.to_int() <= 65535
		):
			ports.append(text.to_int())
		else:
			problems.append("%s item %s (skipped)" % [name, text.c_escape()])
	return ports
