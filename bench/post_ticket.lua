-- wrk script: POST /tickets with one fixed, valid complaint (the same body for every app).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message": "I was charged twice for my subscription this month, please refund one."}'
