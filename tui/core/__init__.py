"""The dashboard's Textual-free core: config, supervisor, sampler, series, timeline, recorder, cgroups."""
