r"""Program supervision in ingest: registry, children, exit detection, restarts, output, commands.

Configuration (vigil.toml; API-added programs live in <data_dir>/ingest-programs.sqlite)::

    [ingest.programs]
    on_ingest_stop = "stop"      # or "leave": children outlive ingest, the next one adopts them
    sample_interval_s = 5.0      # CPU/RSS/threads sampling → vigil.metric.<host>.program

    [[ingest.programs.program]]
    id = "labeler"               # ASCII; unique across hosts (commands carry no host)
    name = "Label printer"
    argv = ["/opt/labeler/bin/labeler", "--port", "COM3"]   # a list, never a shell string
    cwd = "/opt/labeler"
    env = { LABELER_MODE = "prod" }
    autostart = true
    restart = "on-failure"       # never | on-failure | always
    max_retries = 5              # restarts in a row before "failed" (a run >= reset_after_s resets)
    backoff_initial_s = 1.0      # 1, 2, 4, … capped at backoff_max_s
    stop_signal = "SIGTERM"
    stop_timeout_s = 2.0         # then SIGKILL to the process group
    output_max_bytes = 1000000   # stdout+stderr → <data_dir>/programs/<id>/output.log(.1, .2, …)

    [[ingest.programs.program]]
    id = "erp-bridge"            # not started by Vigil: watched by a match rule
    match = { cmdline_regex = 'erp_bridge\.py' }   # or process_name, or pid_file
"""
