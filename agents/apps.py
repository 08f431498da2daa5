from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Assistant and drafting"

    def ready(self) -> None:
        from agents.selectors import draft_examples, exchange_examples
        from clinic.curation import register_content

        # Instruction and preference datasets learn from what clinicians asked and what they signed.
        register_content("exchanges", exchange_examples, label="assistant exchanges: question → cited answer")
        register_content("drafts", draft_examples, label="signed drafts: generated → signed", gives_pairs=True)
