"""The repositories on DynamoDB: one module per aggregate, over one ``table.Table`` per table.

``keys.py`` is the only place keys are built (and holds the table of every item's keys);
``items.py`` turns models into items and back; ``factory.py`` builds the repositories of a table
once per process. Importing this package imports nothing else (no boto3).
"""
