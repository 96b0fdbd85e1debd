-- Every daily count of the range: the trend report, and the library and engagement series.
SELECT
  "date" AS day,
  SUM(CASE WHEN kind = 'upload' THEN 1 ELSE 0 END) AS uploads,
  SUM(CASE WHEN kind = 'quarantine' THEN 1 ELSE 0 END) AS quarantines,
  SUM(CASE WHEN kind = 'analysis_done' THEN 1 ELSE 0 END) AS analyses,
  SUM(CASE WHEN kind = 'analysis_done' AND ok = false THEN 1 ELSE 0 END) AS analysis_failures,
  SUM(CASE WHEN kind = 'view' THEN 1 ELSE 0 END) AS views,
  SUM(CASE WHEN kind = 'play' THEN 1 ELSE 0 END) AS plays,
  SUM(CASE WHEN kind = 'complete' THEN 1 ELSE 0 END) AS completions,
  SUM(CASE WHEN kind = 'like' THEN 1 ELSE 0 END) AS likes,
  SUM(CASE WHEN kind = 'skip' THEN 1 ELSE 0 END) AS skips,
  SUM(CASE WHEN kind IN ('view', 'play', 'complete', 'like', 'skip') THEN COALESCE(watch_ms, 0) ELSE 0 END) AS watch_ms,
  SUM(CASE WHEN kind = 'tag_decision' AND ok = true THEN 1 ELSE 0 END) AS tags_accepted,
  SUM(CASE WHEN kind = 'tag_decision' AND ok = false THEN 1 ELSE 0 END) AS tags_rejected,
  SUM(CASE WHEN kind = 'api_call' THEN 1 ELSE 0 END) AS api_calls,
  COUNT(DISTINCT "user") AS unique_users
FROM events
WHERE {range}
GROUP BY "date"
ORDER BY "date"
