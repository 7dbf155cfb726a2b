extends Logger
## Counts the engine's errors during the suite (warnings are not counted).

var errors: int = 0
var last: String = ""

var _mutex: Mutex = Mutex.new()


func _log_error(
	function: String,
	file: String,
	line: int,
	code: String,
	rationale: String,
	_editor_notify: bool,
	error_type: int,
	_script_backtraces: Array[ScriptBacktrace]
) -> void:
	if error_type == ERROR_TYPE_WARNING:
		return
	_mutex.lock()
	errors += 1
	last = "%s (%s:%d %s) %s" % [rationale, file, line, function, code]
	_mutex.unlock()


func _log_message(_message: String, _error: bool) -> void:
	pass
