#!/bin/sh
# Logging profile setup, run once per start: `template` gives the apimeter-* indices their mapping before
# Fluent Bit creates the first one (ECS strings as keywords, one shard, no replica on one node);
# `data-view` creates the Kibana data view apimeter-* on @timestamp. Both are idempotent.
set -eu
case "${1:-}" in
  template)
    curl -fsS -X PUT http://elasticsearch:9200/_index_template/apimeter-access \
      -H 'Content-Type: application/json' -d '{
        "index_patterns": ["apimeter-*"],
        "priority": 200,
        "template": {
          "settings": {"number_of_shards": 1, "number_of_replicas": 0},
          "mappings": {
            "dynamic_templates": [
              {"strings_as_keywords": {"match_mapping_type": "string",
                                       "mapping": {"type": "keyword", "ignore_above": 2048}}}
            ],
            "properties": {"@timestamp": {"type": "date"}}
          }
        }
      }'
    ;;
  data-view)
    curl -fsS -X POST http://kibana:5601/api/data_views/data_view \
      -H 'kbn-xsrf: true' -H 'Content-Type: application/json' -d '{
        "override": true,
        "data_view": {"id": "apimeter-access", "title": "apimeter-*", "name": "apimeter access logs",
                      "timeFieldName": "@timestamp"}
      }' > /dev/null
    ;;
  *)
    echo "usage: logging-setup.sh template|data-view" >&2
    exit 2
    ;;
esac
echo "logging-setup: $1 done"
