"""Media haystacks (video, audio): sources whose positions are seconds, not tokens."""
