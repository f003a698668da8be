"""Dispatch's domain operations — the only code that changes repair orders.

Other packages call these names (never dispatch's models or tables).
"""
from dispatch.orders.services.assignment import (Candidate, explain_candidates, rank_technicians,  # noqa: F401
                                                 record_position, score_rule, set_duty)
from dispatch.orders.services.intake import default_category_code, km_outside_service_area  # noqa: F401
from dispatch.orders.services.orders import (ACTIONS, TECHNICIAN_ACTIONS, add_event,  # noqa: F401
                                      allowed_actions, awaiting_geocoder, record_geocode, assign, check_may_see, create_order, get_order,
                                      import_orders_csv, is_unstaffed, may_see, order_by_number, pin_location, timeline,
                                      transition)
from dispatch.orders.services.queries import (QUEUE_LABELS, QUEUES, customer_for, customer_history,  # noqa: F401
                                       orders_query, queue_counts, repeat_addresses, sort_orders,
                                       station_board)
from dispatch.orders.services.reference import (categories, category_by_code, category_json,  # noqa: F401
                                         ensure_reference_data, policy_for)
