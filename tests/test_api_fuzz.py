"""Schemathesis walks every operation of the OpenAPI description with generated input:
whatever a client sends, the API answers without a server error."""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_input_makes_a_server_error(app, make_user, make_station, make_customer, token_for):
    make_station("S01")
    make_customer()
    user = make_user("dispatcher")
    operations = _operations(app)
    assert len(operations) >= 4
    failures = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            headers = token_for(user)  # fresh each time: the fuzzer may revoke the one it holds
            response = case.call(headers=headers)
            if operation.path != "/auth/tokens":  # there a generated password is rightly refused
                assert response.status_code != 401, (case.method, case.formatted_path)
            assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text[:300])
        try:
            run()
        except Exception as err:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(err)[:600]}")
    assert not failures, "\n\n".join(failures)
