-- Analysis outcomes by day: how many finished, failed, and how long they took.
SELECT
  "date" AS day,
  COUNT(*) AS analyses,
  SUM(CASE WHEN ok = false THEN 1 ELSE 0 END) AS failures,
  AVG(duration_ms) AS mean_ms,
  MAX(duration_ms) AS max_ms
FROM events
WHERE {range} AND kind = 'analysis_done'
GROUP BY "date"
ORDER BY "date"
