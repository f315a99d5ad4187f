import type { Unit } from './collector-spec.js';

// Every numeric (integer, real) and boolean server setting of PostgreSQL 13–18, with
// pg_stat_statements loaded, beyond the settings alerts rely on (settings.ts lists those with their
// own help). Names are postgres_exporter's: pg_settings_<name, '.' and '-' as '_'> and, for a
// setting with a memory or time unit in pg_settings.unit, _bytes or _seconds after conversion to
// base units. The list is data so every family is written out in full and documented; a setting a
// server lacks (older major, extension not loaded) leaves its family out. Comments give the majors
// a setting exists on when that is not all of them. transaction_read_only and
// transaction_deferrable are left out: they describe the exporter's own transaction, not the server;
// so are tcp_keepalives_count and wal_summary_keep_time (17+), whose names would end in _count or
// contain _summary_, which Prometheus reserves for histograms and summaries (promtool check metrics
// rejects both on a gauge).
// Regenerate after a new major: SELECT name, unit, vartype FROM pg_settings
// WHERE vartype IN ('bool', 'integer', 'real') on every supported major, name → family as above.

/** [family, pg_settings name, base unit of the family (none: a count, a ratio or a boolean)]. */
export type CatalogSetting = readonly [family: string, setting: string, unit?: Unit];

export const NUMERIC_SETTINGS: readonly CatalogSetting[] = [
  ['pg_settings_allow_alter_system', 'allow_alter_system'], // 17–18
  ['pg_settings_allow_in_place_tablespaces', 'allow_in_place_tablespaces'],
  ['pg_settings_allow_system_table_mods', 'allow_system_table_mods'],
  ['pg_settings_archive_timeout_seconds', 'archive_timeout', 'seconds'],
  ['pg_settings_array_nulls', 'array_nulls'],
  ['pg_settings_authentication_timeout_seconds', 'authentication_timeout', 'seconds'],
  ['pg_settings_autovacuum_vacuum_cost_delay_seconds', 'autovacuum_vacuum_cost_delay', 'seconds'],
  ['pg_settings_autovacuum_vacuum_cost_limit', 'autovacuum_vacuum_cost_limit'],
  ['pg_settings_autovacuum_vacuum_insert_scale_factor', 'autovacuum_vacuum_insert_scale_factor'],
  ['pg_settings_autovacuum_vacuum_insert_threshold', 'autovacuum_vacuum_insert_threshold'],
  ['pg_settings_autovacuum_vacuum_max_threshold', 'autovacuum_vacuum_max_threshold'], // 18 only
  ['pg_settings_autovacuum_work_mem_bytes', 'autovacuum_work_mem', 'bytes'],
  ['pg_settings_autovacuum_worker_slots', 'autovacuum_worker_slots'], // 18 only
  ['pg_settings_backend_flush_after_bytes', 'backend_flush_after', 'bytes'],
  ['pg_settings_bgwriter_delay_seconds', 'bgwriter_delay', 'seconds'],
  ['pg_settings_bgwriter_flush_after_bytes', 'bgwriter_flush_after', 'bytes'],
  ['pg_settings_bgwriter_lru_maxpages', 'bgwriter_lru_maxpages'],
  ['pg_settings_bgwriter_lru_multiplier', 'bgwriter_lru_multiplier'],
  ['pg_settings_block_size', 'block_size'],
  ['pg_settings_bonjour', 'bonjour'],
  ['pg_settings_check_function_bodies', 'check_function_bodies'],
  ['pg_settings_checkpoint_completion_target', 'checkpoint_completion_target'],
  ['pg_settings_checkpoint_flush_after_bytes', 'checkpoint_flush_after', 'bytes'],
  ['pg_settings_checkpoint_warning_seconds', 'checkpoint_warning', 'seconds'],
  ['pg_settings_client_connection_check_interval_seconds', 'client_connection_check_interval', 'seconds'], // 14–18
  ['pg_settings_commit_delay', 'commit_delay'],
  ['pg_settings_commit_siblings', 'commit_siblings'],
  ['pg_settings_commit_timestamp_buffers_bytes', 'commit_timestamp_buffers', 'bytes'], // 17–18
  ['pg_settings_cpu_index_tuple_cost', 'cpu_index_tuple_cost'],
  ['pg_settings_cpu_operator_cost', 'cpu_operator_cost'],
  ['pg_settings_cpu_tuple_cost', 'cpu_tuple_cost'],
  ['pg_settings_cursor_tuple_fraction', 'cursor_tuple_fraction'],
  ['pg_settings_data_directory_mode', 'data_directory_mode'],
  ['pg_settings_data_sync_retry', 'data_sync_retry'],
  ['pg_settings_db_user_namespace', 'db_user_namespace'], // 13–16
  ['pg_settings_deadlock_timeout_seconds', 'deadlock_timeout', 'seconds'],
  ['pg_settings_debug_assertions', 'debug_assertions'],
  ['pg_settings_debug_discard_caches', 'debug_discard_caches'], // 14–18
  ['pg_settings_debug_pretty_print', 'debug_pretty_print'],
  ['pg_settings_debug_print_parse', 'debug_print_parse'],
  ['pg_settings_debug_print_plan', 'debug_print_plan'],
  ['pg_settings_debug_print_rewritten', 'debug_print_rewritten'],
  ['pg_settings_default_statistics_target', 'default_statistics_target'],
  ['pg_settings_default_transaction_deferrable', 'default_transaction_deferrable'],
  ['pg_settings_default_transaction_read_only', 'default_transaction_read_only'],
  ['pg_settings_effective_io_concurrency', 'effective_io_concurrency'],
  ['pg_settings_enable_async_append', 'enable_async_append'], // 14–18
  ['pg_settings_enable_bitmapscan', 'enable_bitmapscan'],
  ['pg_settings_enable_distinct_reordering', 'enable_distinct_reordering'], // 18 only
  ['pg_settings_enable_gathermerge', 'enable_gathermerge'],
  ['pg_settings_enable_group_by_reordering', 'enable_group_by_reordering'], // 17–18
  ['pg_settings_enable_hashagg', 'enable_hashagg'],
  ['pg_settings_enable_hashjoin', 'enable_hashjoin'],
  ['pg_settings_enable_incremental_sort', 'enable_incremental_sort'],
  ['pg_settings_enable_indexonlyscan', 'enable_indexonlyscan'],
  ['pg_settings_enable_indexscan', 'enable_indexscan'],
  ['pg_settings_enable_material', 'enable_material'],
  ['pg_settings_enable_memoize', 'enable_memoize'], // 14–18
  ['pg_settings_enable_mergejoin', 'enable_mergejoin'],
  ['pg_settings_enable_nestloop', 'enable_nestloop'],
  ['pg_settings_enable_parallel_append', 'enable_parallel_append'],
  ['pg_settings_enable_parallel_hash', 'enable_parallel_hash'],
  ['pg_settings_enable_partition_pruning', 'enable_partition_pruning'],
  ['pg_settings_enable_partitionwise_aggregate', 'enable_partitionwise_aggregate'],
  ['pg_settings_enable_partitionwise_join', 'enable_partitionwise_join'],
  ['pg_settings_enable_presorted_aggregate', 'enable_presorted_aggregate'], // 16–18
  ['pg_settings_enable_self_join_elimination', 'enable_self_join_elimination'], // 18 only
  ['pg_settings_enable_seqscan', 'enable_seqscan'],
  ['pg_settings_enable_sort', 'enable_sort'],
  ['pg_settings_enable_tidscan', 'enable_tidscan'],
  ['pg_settings_escape_string_warning', 'escape_string_warning'],
  ['pg_settings_event_triggers', 'event_triggers'], // 17–18
  ['pg_settings_exit_on_error', 'exit_on_error'],
  ['pg_settings_extra_float_digits', 'extra_float_digits'],
  ['pg_settings_from_collapse_limit', 'from_collapse_limit'],
  ['pg_settings_fsync', 'fsync'],
  ['pg_settings_full_page_writes', 'full_page_writes'],
  ['pg_settings_geqo', 'geqo'],
  ['pg_settings_geqo_effort', 'geqo_effort'],
  ['pg_settings_geqo_generations', 'geqo_generations'],
  ['pg_settings_geqo_pool_size', 'geqo_pool_size'],
  ['pg_settings_geqo_seed', 'geqo_seed'],
  ['pg_settings_geqo_selection_bias', 'geqo_selection_bias'],
  ['pg_settings_geqo_threshold', 'geqo_threshold'],
  ['pg_settings_gin_fuzzy_search_limit', 'gin_fuzzy_search_limit'],
  ['pg_settings_gin_pending_list_limit_bytes', 'gin_pending_list_limit', 'bytes'],
  ['pg_settings_gss_accept_delegation', 'gss_accept_delegation'], // 16–18
  ['pg_settings_hash_mem_multiplier', 'hash_mem_multiplier'],
  ['pg_settings_hot_standby_feedback', 'hot_standby_feedback'],
  ['pg_settings_huge_page_size_bytes', 'huge_page_size', 'bytes'], // 14–18
  ['pg_settings_idle_replication_slot_timeout_seconds', 'idle_replication_slot_timeout', 'seconds'], // 18 only
  ['pg_settings_idle_session_timeout_seconds', 'idle_session_timeout', 'seconds'], // 14–18
  ['pg_settings_ignore_checksum_failure', 'ignore_checksum_failure'],
  ['pg_settings_ignore_invalid_pages', 'ignore_invalid_pages'],
  ['pg_settings_ignore_system_indexes', 'ignore_system_indexes'],
  ['pg_settings_in_hot_standby', 'in_hot_standby'], // 14–18
  ['pg_settings_integer_datetimes', 'integer_datetimes'],
  ['pg_settings_io_combine_limit_bytes', 'io_combine_limit', 'bytes'], // 17–18
  ['pg_settings_io_max_combine_limit_bytes', 'io_max_combine_limit', 'bytes'], // 18 only
  ['pg_settings_io_max_concurrency', 'io_max_concurrency'], // 18 only
  ['pg_settings_io_workers', 'io_workers'], // 18 only
  ['pg_settings_jit', 'jit'],
  ['pg_settings_jit_above_cost', 'jit_above_cost'],
  ['pg_settings_jit_debugging_support', 'jit_debugging_support'],
  ['pg_settings_jit_dump_bitcode', 'jit_dump_bitcode'],
  ['pg_settings_jit_expressions', 'jit_expressions'],
  ['pg_settings_jit_inline_above_cost', 'jit_inline_above_cost'],
  ['pg_settings_jit_optimize_above_cost', 'jit_optimize_above_cost'],
  ['pg_settings_jit_profiling_support', 'jit_profiling_support'],
  ['pg_settings_jit_tuple_deforming', 'jit_tuple_deforming'],
  ['pg_settings_join_collapse_limit', 'join_collapse_limit'],
  ['pg_settings_krb_caseins_users', 'krb_caseins_users'],
  ['pg_settings_lo_compat_privileges', 'lo_compat_privileges'],
  ['pg_settings_log_autovacuum_min_duration_seconds', 'log_autovacuum_min_duration', 'seconds'],
  ['pg_settings_log_checkpoints', 'log_checkpoints'],
  ['pg_settings_log_connections', 'log_connections'], // 13–17
  ['pg_settings_log_disconnections', 'log_disconnections'],
  ['pg_settings_log_duration', 'log_duration'],
  ['pg_settings_log_executor_stats', 'log_executor_stats'],
  ['pg_settings_log_file_mode', 'log_file_mode'],
  ['pg_settings_log_hostname', 'log_hostname'],
  ['pg_settings_log_lock_failures', 'log_lock_failures'], // 18 only
  ['pg_settings_log_lock_waits', 'log_lock_waits'],
  ['pg_settings_log_min_duration_sample_seconds', 'log_min_duration_sample', 'seconds'],
  ['pg_settings_log_min_duration_statement_seconds', 'log_min_duration_statement', 'seconds'],
  ['pg_settings_log_parameter_max_length_bytes', 'log_parameter_max_length', 'bytes'],
  ['pg_settings_log_parameter_max_length_on_error_bytes', 'log_parameter_max_length_on_error', 'bytes'],
  ['pg_settings_log_parser_stats', 'log_parser_stats'],
  ['pg_settings_log_planner_stats', 'log_planner_stats'],
  ['pg_settings_log_recovery_conflict_waits', 'log_recovery_conflict_waits'], // 14–18
  ['pg_settings_log_replication_commands', 'log_replication_commands'],
  ['pg_settings_log_rotation_age_seconds', 'log_rotation_age', 'seconds'],
  ['pg_settings_log_rotation_size_bytes', 'log_rotation_size', 'bytes'],
  ['pg_settings_log_startup_progress_interval_seconds', 'log_startup_progress_interval', 'seconds'], // 15–18
  ['pg_settings_log_statement_sample_rate', 'log_statement_sample_rate'],
  ['pg_settings_log_statement_stats', 'log_statement_stats'],
  ['pg_settings_log_temp_files_bytes', 'log_temp_files', 'bytes'],
  ['pg_settings_log_transaction_sample_rate', 'log_transaction_sample_rate'],
  ['pg_settings_log_truncate_on_rotation', 'log_truncate_on_rotation'],
  ['pg_settings_logging_collector', 'logging_collector'],
  ['pg_settings_logical_decoding_work_mem_bytes', 'logical_decoding_work_mem', 'bytes'],
  ['pg_settings_maintenance_io_concurrency', 'maintenance_io_concurrency'],
  ['pg_settings_max_active_replication_origins', 'max_active_replication_origins'], // 18 only
  ['pg_settings_max_files_per_process', 'max_files_per_process'],
  ['pg_settings_max_function_args', 'max_function_args'],
  ['pg_settings_max_identifier_length', 'max_identifier_length'],
  ['pg_settings_max_index_keys', 'max_index_keys'],
  ['pg_settings_max_locks_per_transaction', 'max_locks_per_transaction'],
  ['pg_settings_max_logical_replication_workers', 'max_logical_replication_workers'],
  ['pg_settings_max_notify_queue_pages', 'max_notify_queue_pages'], // 17–18
  ['pg_settings_max_parallel_apply_workers_per_subscription', 'max_parallel_apply_workers_per_subscription'], // 16–18
  ['pg_settings_max_parallel_maintenance_workers', 'max_parallel_maintenance_workers'],
  ['pg_settings_max_parallel_workers', 'max_parallel_workers'],
  ['pg_settings_max_parallel_workers_per_gather', 'max_parallel_workers_per_gather'],
  ['pg_settings_max_pred_locks_per_page', 'max_pred_locks_per_page'],
  ['pg_settings_max_pred_locks_per_relation', 'max_pred_locks_per_relation'],
  ['pg_settings_max_pred_locks_per_transaction', 'max_pred_locks_per_transaction'],
  ['pg_settings_max_prepared_transactions', 'max_prepared_transactions'],
  ['pg_settings_max_stack_depth_bytes', 'max_stack_depth', 'bytes'],
  ['pg_settings_max_standby_archive_delay_seconds', 'max_standby_archive_delay', 'seconds'],
  ['pg_settings_max_standby_streaming_delay_seconds', 'max_standby_streaming_delay', 'seconds'],
  ['pg_settings_max_sync_workers_per_subscription', 'max_sync_workers_per_subscription'],
  ['pg_settings_max_worker_processes', 'max_worker_processes'],
  ['pg_settings_md5_password_warnings', 'md5_password_warnings'], // 18 only
  ['pg_settings_min_dynamic_shared_memory_bytes', 'min_dynamic_shared_memory', 'bytes'], // 14–18
  ['pg_settings_min_parallel_index_scan_size_bytes', 'min_parallel_index_scan_size', 'bytes'],
  ['pg_settings_min_parallel_table_scan_size_bytes', 'min_parallel_table_scan_size', 'bytes'],
  ['pg_settings_multixact_member_buffers_bytes', 'multixact_member_buffers', 'bytes'], // 17–18
  ['pg_settings_multixact_offset_buffers_bytes', 'multixact_offset_buffers', 'bytes'], // 17–18
  ['pg_settings_notify_buffers_bytes', 'notify_buffers', 'bytes'], // 17–18
  ['pg_settings_num_os_semaphores', 'num_os_semaphores'], // 18 only
  ['pg_settings_old_snapshot_threshold_seconds', 'old_snapshot_threshold', 'seconds'], // 13–16
  ['pg_settings_operator_precedence_warning', 'operator_precedence_warning'], // 13 only
  ['pg_settings_parallel_leader_participation', 'parallel_leader_participation'],
  ['pg_settings_parallel_setup_cost', 'parallel_setup_cost'],
  ['pg_settings_parallel_tuple_cost', 'parallel_tuple_cost'],
  ['pg_settings_pg_stat_statements_save', 'pg_stat_statements.save'],
  ['pg_settings_pg_stat_statements_track_utility', 'pg_stat_statements.track_utility'],
  ['pg_settings_port', 'port'],
  ['pg_settings_post_auth_delay_seconds', 'post_auth_delay', 'seconds'],
  ['pg_settings_pre_auth_delay_seconds', 'pre_auth_delay', 'seconds'],
  ['pg_settings_quote_all_identifiers', 'quote_all_identifiers'],
  ['pg_settings_random_page_cost', 'random_page_cost'],
  ['pg_settings_recovery_min_apply_delay_seconds', 'recovery_min_apply_delay', 'seconds'],
  ['pg_settings_recovery_target_inclusive', 'recovery_target_inclusive'],
  ['pg_settings_recursive_worktable_factor', 'recursive_worktable_factor'], // 15–18
  ['pg_settings_remove_temp_files_after_crash', 'remove_temp_files_after_crash'], // 14–18
  ['pg_settings_restart_after_crash', 'restart_after_crash'],
  ['pg_settings_row_security', 'row_security'],
  ['pg_settings_scram_iterations', 'scram_iterations'], // 16–18
  ['pg_settings_segment_size_bytes', 'segment_size', 'bytes'],
  ['pg_settings_send_abort_for_crash', 'send_abort_for_crash'], // 16–18
  ['pg_settings_send_abort_for_kill', 'send_abort_for_kill'], // 16–18
  ['pg_settings_seq_page_cost', 'seq_page_cost'],
  ['pg_settings_serializable_buffers_bytes', 'serializable_buffers', 'bytes'], // 17–18
  ['pg_settings_server_version_num', 'server_version_num'],
  ['pg_settings_shared_memory_size_bytes', 'shared_memory_size', 'bytes'], // 15–18
  ['pg_settings_shared_memory_size_in_huge_pages', 'shared_memory_size_in_huge_pages'], // 15–18
  ['pg_settings_ssl', 'ssl'],
  ['pg_settings_ssl_passphrase_command_supports_reload', 'ssl_passphrase_command_supports_reload'],
  ['pg_settings_ssl_prefer_server_ciphers', 'ssl_prefer_server_ciphers'],
  ['pg_settings_standard_conforming_strings', 'standard_conforming_strings'],
  ['pg_settings_subtransaction_buffers_bytes', 'subtransaction_buffers', 'bytes'], // 17–18
  ['pg_settings_summarize_wal', 'summarize_wal'], // 17–18
  ['pg_settings_sync_replication_slots', 'sync_replication_slots'], // 17–18
  ['pg_settings_synchronize_seqscans', 'synchronize_seqscans'],
  ['pg_settings_syslog_sequence_numbers', 'syslog_sequence_numbers'],
  ['pg_settings_syslog_split_messages', 'syslog_split_messages'],
  ['pg_settings_tcp_keepalives_idle_seconds', 'tcp_keepalives_idle', 'seconds'],
  ['pg_settings_tcp_keepalives_interval_seconds', 'tcp_keepalives_interval', 'seconds'],
  ['pg_settings_tcp_user_timeout_seconds', 'tcp_user_timeout', 'seconds'],
  ['pg_settings_temp_buffers_bytes', 'temp_buffers', 'bytes'],
  ['pg_settings_temp_file_limit_bytes', 'temp_file_limit', 'bytes'],
  ['pg_settings_trace_connection_negotiation', 'trace_connection_negotiation'], // 17–18
  ['pg_settings_trace_notify', 'trace_notify'],
  ['pg_settings_trace_sort', 'trace_sort'],
  ['pg_settings_track_activities', 'track_activities'],
  ['pg_settings_track_activity_query_size_bytes', 'track_activity_query_size', 'bytes'],
  ['pg_settings_track_commit_timestamp', 'track_commit_timestamp'],
  ['pg_settings_track_cost_delay_timing', 'track_cost_delay_timing'], // 18 only
  ['pg_settings_track_counts', 'track_counts'],
  ['pg_settings_track_wal_io_timing', 'track_wal_io_timing'], // 14–18
  ['pg_settings_transaction_buffers_bytes', 'transaction_buffers', 'bytes'], // 17–18
  ['pg_settings_transaction_timeout_seconds', 'transaction_timeout', 'seconds'], // 17–18
  ['pg_settings_transform_null_equals', 'transform_null_equals'],
  ['pg_settings_unix_socket_permissions', 'unix_socket_permissions'],
  ['pg_settings_update_process_title', 'update_process_title'],
  ['pg_settings_vacuum_buffer_usage_limit_bytes', 'vacuum_buffer_usage_limit', 'bytes'], // 16–18
  ['pg_settings_vacuum_cleanup_index_scale_factor', 'vacuum_cleanup_index_scale_factor'], // 13 only
  ['pg_settings_vacuum_cost_delay_seconds', 'vacuum_cost_delay', 'seconds'],
  ['pg_settings_vacuum_cost_limit', 'vacuum_cost_limit'],
  ['pg_settings_vacuum_cost_page_dirty', 'vacuum_cost_page_dirty'],
  ['pg_settings_vacuum_cost_page_hit', 'vacuum_cost_page_hit'],
  ['pg_settings_vacuum_cost_page_miss', 'vacuum_cost_page_miss'],
  ['pg_settings_vacuum_defer_cleanup_age', 'vacuum_defer_cleanup_age'], // 13–15
  ['pg_settings_vacuum_failsafe_age', 'vacuum_failsafe_age'], // 14–18
  ['pg_settings_vacuum_freeze_min_age', 'vacuum_freeze_min_age'],
  ['pg_settings_vacuum_freeze_table_age', 'vacuum_freeze_table_age'],
  ['pg_settings_vacuum_max_eager_freeze_failure_rate', 'vacuum_max_eager_freeze_failure_rate'], // 18 only
  ['pg_settings_vacuum_multixact_failsafe_age', 'vacuum_multixact_failsafe_age'], // 14–18
  ['pg_settings_vacuum_multixact_freeze_min_age', 'vacuum_multixact_freeze_min_age'],
  ['pg_settings_vacuum_multixact_freeze_table_age', 'vacuum_multixact_freeze_table_age'],
  ['pg_settings_vacuum_truncate', 'vacuum_truncate'], // 18 only
  ['pg_settings_wal_block_size', 'wal_block_size'],
  ['pg_settings_wal_buffers_bytes', 'wal_buffers', 'bytes'],
  ['pg_settings_wal_compression', 'wal_compression'], // 13–14
  ['pg_settings_wal_decode_buffer_size_bytes', 'wal_decode_buffer_size', 'bytes'], // 15–18
  ['pg_settings_wal_init_zero', 'wal_init_zero'],
  ['pg_settings_wal_log_hints', 'wal_log_hints'],
  ['pg_settings_wal_receiver_create_temp_slot', 'wal_receiver_create_temp_slot'],
  ['pg_settings_wal_receiver_status_interval_seconds', 'wal_receiver_status_interval', 'seconds'],
  ['pg_settings_wal_receiver_timeout_seconds', 'wal_receiver_timeout', 'seconds'],
  ['pg_settings_wal_recycle', 'wal_recycle'],
  ['pg_settings_wal_retrieve_retry_interval_seconds', 'wal_retrieve_retry_interval', 'seconds'],
  ['pg_settings_wal_segment_size_bytes', 'wal_segment_size', 'bytes'],
  ['pg_settings_wal_sender_timeout_seconds', 'wal_sender_timeout', 'seconds'],
  ['pg_settings_wal_skip_threshold_bytes', 'wal_skip_threshold', 'bytes'],
  ['pg_settings_wal_writer_delay_seconds', 'wal_writer_delay', 'seconds'],
  ['pg_settings_wal_writer_flush_after_bytes', 'wal_writer_flush_after', 'bytes'],
  ['pg_settings_zero_damaged_pages', 'zero_damaged_pages'],
];
