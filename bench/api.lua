-- A signed-in caller of the API (identity header as configured by run.sh).
wrk.method = "GET"
wrk.headers["X-Bench-Sub"] = os.getenv("BENCH_SUB")
