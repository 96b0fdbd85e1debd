-- The most played media of the range, with their engagement.
SELECT
  media,
  SUM(CASE WHEN kind = 'play' THEN 1 ELSE 0 END) AS plays,
  SUM(CASE WHEN kind = 'view' THEN 1 ELSE 0 END) AS views,
  SUM(CASE WHEN kind = 'complete' THEN 1 ELSE 0 END) AS completions,
  SUM(CASE WHEN kind = 'like' THEN 1 ELSE 0 END) AS likes,
  SUM(CASE WHEN kind = 'skip' THEN 1 ELSE 0 END) AS skips,
  SUM(COALESCE(watch_ms, 0)) AS watch_ms,
  COUNT(DISTINCT "user") AS unique_users
FROM events
WHERE {range} AND kind IN ('view', 'play', 'complete', 'like', 'skip') AND media IS NOT NULL
GROUP BY media
ORDER BY plays DESC, views DESC, media
LIMIT {limit}
