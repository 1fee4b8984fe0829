"""From one claimed upload to its assets and rows: the formats openips ingests, and what they share.

Bottom up (an import-linter layers contract keeps it so):

* ``sniff`` — the upload's first bytes, read once, and what they say (archive, PDF, PSD, …);
* ``context`` — ``Upload``, the frozen value every format's ``ingest`` takes;
* ``outcome`` — ``Content``, ``FileResult`` and ``finish_file``: decide the asset (spec §9.2),
  store it, write its row; ``raster`` runs a raster through the option pipeline; ``quarantine``
  keeps refused bytes; ``format`` is what a format declares;
* one module per Scene7 file option, named after it (``pdf_options``, ``photoshop_options``, …),
  plus ``raster_images`` and ``icc_profiles``: how it recognises a file, its job-log file type,
  its ingest;
* ``registry`` — the formats in the order they are asked.

``services.processing`` claims the file, asks the registry, and completes the file.
How to add a format: docs/architecture.md.
"""
