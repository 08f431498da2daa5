from django.db import migrations


class Migration(migrations.Migration):
    """Keep the 10,000 most common lexemes in the planner's statistics (the default keeps 1,000).

    Keyword ranking on a large index takes common lexemes' document frequencies from there and counts the others,
    so the longer list keeps those counts small (see search.selectors.document_frequencies).
    """

    dependencies = [("search", "0002_cohort")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE search_chunk ALTER COLUMN search_vector SET STATISTICS 1000",
            "ALTER TABLE search_chunk ALTER COLUMN search_vector SET STATISTICS -1",
        )
    ]
