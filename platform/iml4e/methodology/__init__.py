"""The methodology layer: MLOps maturity self-assessment, capability catalogue and ML Test Score.

- `content`: the data files (maturity model, catalogue, ML tests) and their validation
- `answers`: answer files and the saved answers of an interactive assessment
- `evidence`: probes that read the platform's own state and prove statements
- `scoring`: levels per area, the overall profile, the roadmap and the ML Test Score
- `catalogue`: which capability providers exist here and which capabilities are active
- `report_html`: the self-contained HTML report
- `interactive`: the prompt-driven, resumable assessment
"""
