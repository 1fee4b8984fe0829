"""The one set of Powertools singletons shared by every handler and service.

Service and namespace are fixed here (not only through environment variables) so that
importing this module before the environment is set, as tests and tools do, still works.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "openips"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)
