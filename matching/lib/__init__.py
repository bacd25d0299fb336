"""Framework-free code of the matching app (no Django imports here).

``imaging``: safe image decoding for uploads; ``verdict_rule``: the decision rule for one face
against the opted-out people of a check; ``c2pa``: whether an image's Content Credentials
declare AI generation; ``charts``: the usage page's stacked bar chart as inline SVG.
"""
