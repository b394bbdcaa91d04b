"""Rule clean_captions: clean the raw strong captions and write the weak captions (LLM or offline).

params.backend is the config's ``captions`` section; max_workers defaults to the rule's threads.
"""

from tacos.captions.clean import CaptionSettings, clean_caption_files
from tacos.logs import setup_logging

setup_logging(snakemake.log[0])
values = dict(snakemake.params.backend)
values.setdefault("max_workers", snakemake.threads)
clean_caption_files(
    snakemake.params.raw_file,
    snakemake.output.strong,
    snakemake.output.weak,
    snakemake.output.report,
    CaptionSettings.from_mapping(values),
)
