extends Logger
## Engine errors and printed lines as telemetry `error` and `log` events.
##
## Godot calls a Logger from any thread, possibly at the same time, so this
## only appends to a bounded queue under a Mutex; the bridge drains it from
## `_process` and sends. Past MAX_QUEUE the newest are dropped and counted.

const MAX_QUEUE := 256
const MAX_MESSAGE := 2000
const ERROR_KINDS: Array[String] = ["error", "warning", "script", "shader"]

## Events dropped because the queue was full.
var dropped: int = 0

var _mutex: Mutex = Mutex.new()
var _queue: Array[Dictionary] = []


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
	var message: String = rationale if not rationale.is_empty() else code
	var source: String = "%s:%d" % [file, line]
	if not function.is_empty():
		source += " @ %s()" % function
	var kind: String = ERROR_KINDS[error_type] if error_type >= 0 and error_type < 4 else "error"
	if error_type == ERROR_TYPE_WARNING:
		_push(
			{
				"event": "log",
				"data": {"level": "warning", "message": _clip(message), "source": source},
			}
		)
	else:
		_push(
			{
				"event": "error",
				"data": {"message": _clip(message), "source": source, "kind": kind},
			}
		)


func _log_message(message: String, error: bool) -> void:
	var text: String = message.strip_edges(false, true)
	if text.is_empty():
		return
	_push({"event": "log", "data": {"level": "error" if error else "info", "message": _clip(text)}})


## The queued events, oldest first; the queue is empty afterwards.
func drain() -> Array[Dictionary]:
	_mutex.lock()
	var events: Array[Dictionary] = _queue
	_queue = []
	_mutex.unlock()
	return events


func _push(event: Dictionary) -> void:
	_mutex.lock()
	if _queue.size() < MAX_QUEUE:
		_queue.append(event)
	else:
		dropped += 1
	_mutex.unlock()


static func _clip(text: String) -> String:
	return text if text.length() <= MAX_MESSAGE else text.substr(0, MAX_MESSAGE) + "..."
