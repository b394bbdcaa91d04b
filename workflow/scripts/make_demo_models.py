"""Rule demo_models: random-weight models in the real release layouts, for a paper-shaped demo
(ASIT_strong_1.pt with its heads, a RoBERTa folder as save_pretrained writes it)."""

from pathlib import Path

from tacos.logs import setup_logging
from tacos.models.asit import ASiTConfig
from tacos.models.fixtures import query_texts, write_random_asit_release, write_tiny_roberta

setup_logging(snakemake.log[0])
# the outputs are named: `asit`, `roberta` or both (Namedlist: `in` would test the values)
asit, roberta = snakemake.output.get("asit"), snakemake.output.get("roberta")
if asit:
    write_random_asit_release(asit, ASiTConfig(**snakemake.params.asit))
if roberta:
    write_tiny_roberta(Path(roberta).parent, query_texts())
