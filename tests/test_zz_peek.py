import gc
from hypothesis import given, settings, HealthCheck
import test_hostile_input as T
from test_hostile_input import world  # noqa

def test_peek(app, world):
    clients = T._clients(app, world)
    for rule, method in T._operations(app):
        if method != "POST":
            continue
        @given(case=T.cases(app, world, rule, method))
        @settings(max_examples=10, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            r = T._send(clients, case)
            gc.collect()
        run()
        print("done", rule.rule, flush=True)
