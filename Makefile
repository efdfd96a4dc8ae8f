# One-command demo of the local platform (no cloud account): platform up, sweep, best model,
# canary rollout under load, promotion, summary table and PNG, platform down. See docs/deploy.md.
.PHONY: demo bench-serving

demo:
	uv run python scripts/demo.py $(DEMO_ARGS)

bench-serving:
	uv run python bench/serving.py
