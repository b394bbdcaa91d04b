"""Rule tables: Table 3 of the paper, the two ablation tables and the frame-collapse table, as
CSV, Markdown and LaTeX."""

from tacos.logs import setup_logging
from tacos.peer_tables import collapse_table
from tacos.tables import ablation_delta, ablation_negatives, read_results, table3, write_table

setup_logging(snakemake.log[0])
results = read_results(snakemake.input.results)
delta = float(snakemake.params.delta)
protocols = list(snakemake.params.frames)
main = protocols[0]
output = snakemake.output
write_table(
    table3(results, delta, protocols), output.table3_csv, output.table3_md, output.table3_tex
)
write_table(ablation_delta(results, main), output.delta_csv, output.delta_md, output.delta_tex)
write_table(
    ablation_negatives(results, delta, main),
    output.negatives_csv,
    output.negatives_md,
    output.negatives_tex,
)
write_table(
    collapse_table(snakemake.params.collapse),
    output.collapse_csv,
    output.collapse_md,
    output.collapse_tex,
)
