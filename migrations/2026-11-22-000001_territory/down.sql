DROP TABLE app_meta, hub_sites, hubs, sites, institutions, municipalities, territorial_ambits, provinces;
