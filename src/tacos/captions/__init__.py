"""Caption cleaning and weak-caption writing (the paper's LLM stage, and an offline stand-in).

In the order a run uses them: ``backends`` defines the interface (``clean`` one caption,
``summarise`` a file's captions in order), its results, errors and versioned ``prompts``;
``openai_backend`` implements it with an OpenAI-compatible chat-completions client, ``rules``
offline and deterministically over the word lists of ``lexicon``; ``cache`` keeps every answer,
so an interrupted run resumes and a re-run is free; ``clean`` is the workflow stage: raw strong
CSV in; cleaned strong CSV, weak CSV and a JSON report out.
"""
