"""Rule peers_table: "Public models under the TACOS protocol", as CSV, Markdown and LaTeX."""

from tacos.logs import setup_logging
from tacos.peer_tables import model_row, peers_table
from tacos.tables import write_table

setup_logging(snakemake.log[0])
params = snakemake.params
rows = [
    model_row(results, params.collapse[name], params.peers.get(name))
    for name, results in params.results.items()
]
output = snakemake.output
write_table(peers_table(rows, params.frames), output.peers_csv, output.peers_md, output.peers_tex)
