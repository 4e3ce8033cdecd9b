"""The config format: pydantic models (`models`) and the loader.

Entry points (imported from their modules, so importing `envsim.config.models` stays cheap):
`loader.load_config(path, overrides)`, `loader.load_environment_catalog(path)`,
`loader.load_config_or_catalog(path)`, `paths.resolve_path(config, p)`,
`overrides.apply_overrides(raw, overrides)`, `overrides.split_seed_style_args(args)`,
`validation.EXTRA_VALIDATORS` (register more load-time checks), `summary.build_summary(loaded)`.
"""
