# Sourced by the bench scripts: the production configuration against the bench database.
BENCH_DB=${BENCH_DB:-talkee_bench}
BENCH_DIR=${BENCH_DIR:-/tmp/talkee-bench}
PY=${PY:-$ROOT/.venv/bin/python}
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$BENCH_DB
export REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/11}
export DJANGO_SETTINGS_MODULE=talkee.settings.prod
export SECRET_KEY=bench
export PYTHONUNBUFFERED=1
