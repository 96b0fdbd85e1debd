-- Tag decisions by tag and by the person who made them.
SELECT
  label AS tag,
  actor AS reviewer,
  SUM(CASE WHEN ok = true THEN 1 ELSE 0 END) AS accepted,
  SUM(CASE WHEN ok = false THEN 1 ELSE 0 END) AS rejected
FROM events
WHERE {range} AND kind = 'tag_decision'
GROUP BY label, actor
ORDER BY accepted + rejected DESC, tag, reviewer
